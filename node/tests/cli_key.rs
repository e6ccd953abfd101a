//! `fluxnode key generate|show`, run as the real binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use proto::keys::{Keypair, PublicKey};

fn fluxnode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .args(args)
        .output()
        .expect("run fluxnode")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn generate_writes_a_private_key_file_and_prints_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let p = path.to_str().unwrap();

    let out = fluxnode(&["key", "generate", "--out", p]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out).trim().to_string();
    let id: PublicKey = printed.parse().expect("printed id parses as a node id");
    assert!(printed.starts_with("12D3KooW"), "{printed}");

    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode is {mode:o}");

    let key = Keypair::from_key_file(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        key.public(),
        id,
        "the printed id belongs to the written key"
    );

    let shown = fluxnode(&["key", "show", p]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(stdout(&shown).trim(), printed);
    assert!(!stderr(&shown).contains("warning"), "{}", stderr(&shown));
}

#[test]
fn generate_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let p = path.to_str().unwrap();
    assert!(fluxnode(&["key", "generate", "--out", p]).status.success());
    let before = fs::read(&path).unwrap();

    let again = fluxnode(&["key", "generate", "--out", p]);
    assert!(!again.status.success());
    let err = stderr(&again);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert!(stdout(&again).is_empty());
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "existing key was clobbered"
    );

    let forced = fluxnode(&["key", "generate", "--out", p, "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(fs::read(&path).unwrap(), before, "--force writes a new key");
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let ids: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(ids.len(), 1, "no temporary file left behind");
}

#[test]
fn show_explains_bad_files_and_warns_on_loose_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.key");
    let out = fluxnode(&["key", "show", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read key file"),
        "{}",
        stderr(&out)
    );

    let garbage = dir.path().join("garbage.key");
    fs::write(&garbage, "{\"type\":\"ed25519\",\"secret\":\"zz\"}").unwrap();
    let out = fluxnode(&["key", "show", garbage.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("secret"), "{}", stderr(&out));

    let loose = dir.path().join("loose.key");
    fs::write(&loose, Keypair::generate().unwrap().to_key_file()).unwrap();
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).unwrap();
    let out = fluxnode(&["key", "show", loose.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

#[test]
fn generate_into_a_missing_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/node.key");
    let out = fluxnode(&["key", "generate", "--out", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot create key file"),
        "{}",
        stderr(&out)
    );
}
