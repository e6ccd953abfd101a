//! Client commands whose reader has gone away (`fluxnode bench --json | head -c1`,
//! `fluxnode app list | head`) end quietly with exit 0, never with a panic.
//!
//! stdout is one end of a socket pair whose other end is closed before the command starts,
//! so its first write fails with EPIPE every time, exactly as a write to a pipe whose
//! reader has exited (no race with a reader such as `head`).

mod api_common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};

use api_common::{TestBackend, fixture_path, owner, serve_in_thread};

/// Runs `fluxnode args` with a stdout whose reader is gone.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (writer, reader) = UnixStream::pair().expect("socket pair");
    drop(reader);
    let writer = std::os::fd::OwnedFd::from(writer);
    Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .args(args)
        .env_remove("FLUXNODE_API")
        .env_remove("FLUXNODE_OWNER_KEY")
        .env_remove("FLUXNODE_CONFIG")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run fluxnode")
}

#[track_caller]
fn assert_quiet(args: &[&str]) {
    let out = into_closed_pipe(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "fluxnode {args:?} complained about the closed pipe:\n{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "fluxnode {args:?}: {:?}\n{stderr}",
        out.status
    );
}

#[test]
fn bench_json_and_table_end_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    assert_quiet(&["bench", "--json", "--inventory-only", "--dir", dir]);
    assert_quiet(&["bench", "--inventory-only", "--dir", dir]);
    // The measured report takes the same path after about 2 s of measuring.
    assert_quiet(&["bench", "--json", "--quick", "--dir", dir]);
}

#[test]
fn api_client_commands_end_quietly() {
    let backend = TestBackend::default();
    backend.set_height(2_500_000);
    let api = serve_in_thread(backend);
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("owner.key");
    std::fs::write(&key, owner(1).to_key_file()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let spec = fixture_path();
    let registered = Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .args(["app", "register", spec.to_str().unwrap()])
        .args(["--key", key.to_str().unwrap(), "--api", &api])
        .output()
        .unwrap();
    assert!(registered.status.success(), "{registered:?}");

    for args in [
        vec!["app", "list"],
        vec!["app", "list", "--json"],
        vec!["status"],
        vec!["peers"],
    ] {
        let mut args = args;
        args.extend(["--api", &api]);
        assert_quiet(&args);
    }
}

#[test]
fn offline_commands_end_quietly() {
    let spec = fixture_path();
    assert_quiet(&["spec", "validate", spec.to_str().unwrap()]);
    assert_quiet(&["key", "generate", "--help"]);
}
