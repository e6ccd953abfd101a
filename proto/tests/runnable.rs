//! Specs FluxOS accepts but no node can run are refused, each with the field named:
//! resources below the minimums, container port 0, unmountable `containerData`, an env
//! entry without `=`, a repotag that is not an image reference.

use proto::validate::{ValidationContext, Violation, validate_value};
use serde_json::{Value, json};

fn base() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/flux-specs/valid/v8-e2etestapp-fluxos-test-infra.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn with(key: &str, value: Value) -> Vec<Violation> {
    let mut spec = base();
    spec["compose"][0][key] = value;
    validate_value(&spec, &ValidationContext::default())
}

fn assert_refused(key: &str, value: Value, path: &str, rule: &str) {
    let vs = with(key, value.clone());
    assert!(
        vs.iter().any(|v| v.path == path && v.rule == rule),
        "{key} = {value}: expected {path}: {rule}, got {vs:?}"
    );
}

#[test]
fn the_base_spec_is_valid() {
    assert_eq!(
        validate_value(&base(), &ValidationContext::default()),
        vec![]
    );
}

#[test]
fn resources_below_the_minimums_are_refused() {
    let rule = "resource-below-minimum";
    assert_refused("cpu", json!(0), "compose[0].cpu", rule);
    assert_refused("cpu", json!(0.001), "compose[0].cpu", rule);
    assert_refused("ram", json!(1), "compose[0].ram", rule);
    assert_refused("hdd", json!(0), "compose[0].hdd", rule);
    assert!(with("cpu", json!(0.1)).is_empty());
    assert!(with("ram", json!(100)).is_empty());
}

#[test]
fn container_port_zero_is_refused() {
    let mut spec = base();
    spec["compose"][0]["containerPorts"] = json!([0]);
    spec["compose"][0]["ports"] = json!([31999]);
    spec["compose"][0]["domains"] = json!([""]);
    let vs = validate_value(&spec, &ValidationContext::default());
    assert!(
        vs.iter()
            .any(|v| v.path == "compose[0].containerPorts[0]" && v.rule == "port-out-of-range"),
        "{vs:?}"
    );
}

#[test]
fn unmountable_container_data_is_refused() {
    for bad in [
        "/:/host",
        "../../etc",
        "/proc",
        "/sys/kernel",
        "g:/",
        "/a/../../etc",
    ] {
        assert_refused(
            "containerData",
            json!(bad),
            "compose[0].containerData",
            "containerdata-bad-path",
        );
    }
    for good in ["/data", "g:/config|0:/data", "m:mods:/srv/mods", "r:/root"] {
        let vs = with("containerData", json!(good));
        assert!(vs.is_empty(), "{good}: {vs:?}");
    }
}

#[test]
fn env_entries_must_be_key_value() {
    assert_refused(
        "environmentParameters",
        json!(["A=1", "NOEQUALS"]),
        "compose[0].environmentParameters[1]",
        "env-not-key-value",
    );
    assert_refused(
        "environmentParameters",
        json!(["=value"]),
        "compose[0].environmentParameters[0]",
        "env-not-key-value",
    );
    assert!(with("environmentParameters", json!(["A=", "B=x=y"])).is_empty());
}

#[test]
fn repotags_must_be_image_references() {
    for bad in [
        "--privileged",
        "busybox --privileged",
        "nginx:latest --privileged",
        "Nginx",
        "a/b:c:d",
    ] {
        assert_refused(
            "repotag",
            json!(bad),
            "compose[0].repotag",
            "repotag-invalid",
        );
    }
}

#[test]
fn legacy_specs_get_the_same_container_checks() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/flux-specs/valid/v3-bitcoinwhitepaper.json"
    );
    let mut spec: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    spec["repotag"] = json!("x --privileged");
    spec["containerData"] = json!("/proc");
    let vs = validate_value(&spec, &ValidationContext::default());
    assert!(
        vs.iter()
            .any(|v| v.path == "repotag" && v.rule == "repotag-invalid"),
        "{vs:?}"
    );
    assert!(
        vs.iter()
            .any(|v| v.path == "containerData" && v.rule == "containerdata-bad-path"),
        "{vs:?}"
    );
}
