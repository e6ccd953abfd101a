//! `fluxnode spec validate` run as a real process on corpus files.

use std::process::{Command, Output};

use serde_json::Value;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../proto/tests/data/flux-specs"
);

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .args(args)
        .output()
        .expect("run fluxnode")
}

fn fixture(name: &str) -> String {
    format!("{CORPUS}/{name}")
}

const VALID: &str = "valid/v8-e2etestapp-fluxos-test-infra.json";
const INVALID: &str = "invalid/v7-banned-port-22.json";

#[test]
fn valid_file_prints_ok_and_exits_0() {
    let out = run(&["spec", "validate", &fixture(VALID)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("ok e2eTestApp"), "{stdout}");
}

#[test]
fn invalid_file_prints_each_violation_and_exits_1() {
    let file = fixture(INVALID);
    let out = run(&["spec", "validate", &fixture(VALID), &file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = format!("{file}: compose[0].ports[0]: banned-port: host port 22 is reserved");
    assert!(stdout.lines().any(|l| l.starts_with(&expected)), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("ok ")), "{stdout}");
}

#[test]
fn json_output_lists_every_file() {
    let out = run(&[
        "spec",
        "validate",
        "--json",
        &fixture(VALID),
        &fixture(INVALID),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = report.as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file"], fixture(VALID));
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[0]["errors"], Value::Array(vec![]));
    assert_eq!(files[1]["valid"], false);
    let errors = files[1]["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["path"] == "compose[0].ports[0]"
            && e["rule"] == "banned-port"
            && e["message"].as_str().unwrap().contains("22")),
        "{errors:?}"
    );
}

#[test]
fn json_output_exit_0_when_all_valid() {
    let out = run(&["spec", "validate", "--json", &fixture(VALID)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["valid"], true);
}

#[test]
fn unreadable_file_and_bad_usage_exit_2() {
    let missing = fixture("no-such-file.json");
    let out = run(&["spec", "validate", &fixture(VALID), &missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file.json"));

    let out = run(&["spec", "validate", "--json", &missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["errors"][0]["rule"], "unreadable-file");

    // No files at all is a usage error.
    let out = run(&["spec", "validate"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn height_changes_the_rules() {
    // Expire 1 is allowed only from block 1,964,447.
    let file = fixture("valid/v8-expire-1-cancellation-boundary.json");
    assert_eq!(run(&["spec", "validate", &file]).status.code(), Some(0));
    let out = run(&["spec", "validate", "--height", "1960000", &file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("expire-out-of-range"));
}
