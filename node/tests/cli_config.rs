//! `fluxnode run --print-config` through the real binary: flags > env > file > defaults.

use std::process::Command;

fn print_config(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluxnode"));
    cmd.arg("run").args(args).arg("--print-config");
    // Start from an environment without any FLUXNODE_* variable of the caller.
    for (k, _) in std::env::vars() {
        if k.starts_with("FLUXNODE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn precedence_flag_over_env_over_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fluxnode.toml");
    std::fs::write(
        &file,
        "[node]\ngeo = \"EU_DE_Hesse\"\ndata_dir = \"/from/file\"\n[chain]\nblock_time = \"2s\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let (ok, out, err) = print_config(&["--config", file], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("geo = \"EU_DE_Hesse\""), "{out}");
    assert!(out.contains("block_time = \"2s\""), "{out}");

    let (ok, out, _) = print_config(&["--config", file], &[("FLUXNODE_GEO", "NA_US_Ohio")]);
    assert!(ok);
    assert!(
        out.contains("geo = \"NA_US_Ohio\""),
        "env beats file: {out}"
    );
    assert!(out.contains("data_dir = \"/from/file\""), "{out}");

    let (ok, out, _) = print_config(
        &["--config", file, "--geo", "AS_JP_Tokyo"],
        &[("FLUXNODE_GEO", "NA_US_Ohio")],
    );
    assert!(ok);
    assert!(
        out.contains("geo = \"AS_JP_Tokyo\""),
        "flag beats env: {out}"
    );
}

#[test]
fn errors_name_the_file_or_key_and_exit_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let (ok, _, err) = print_config(&["--config", missing.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("absent.toml"), "{err}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[api]\nlisten = 16127\n").unwrap();
    let (ok, _, err) = print_config(&["--config", bad.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("listen"), "{err}");

    let (ok, _, err) = print_config(&[], &[("FLUXNODE_MIN_UPTIME", "2")]);
    assert!(!ok);
    assert!(err.contains("scheduler.min_uptime"), "{err}");
}
