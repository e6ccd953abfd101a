//! Hostile or broken input gives violations with a path — never a panic, never a report
//! the size of the input.

use proto::spec::AppSpec;
use proto::validate::{ValidationContext, Violation, validate_json};
use serde_json::{Value, json};

fn violations(bytes: &[u8]) -> Vec<Violation> {
    let v = validate_json(bytes, &ValidationContext::default());
    // from_json agrees with validate_json on rejecting.
    let err = AppSpec::from_json(bytes).expect_err("must be rejected");
    assert_eq!(err.violations, v);
    v
}

fn valid_v8() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/flux-specs/valid/v8-e2etestapp-fluxos-test-infra.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn has(vs: &[Violation], path: &str, rule: &str) -> bool {
    vs.iter().any(|v| v.path == path && v.rule == rule)
}

#[test]
fn malformed_json_is_one_violation_at_the_root() {
    for input in [
        &b""[..],
        b"{",
        b"{\"version\":",
        b"{\"a\" 1}",
        b"nul",
        b"\xff\xfe{}",
        b"{}}",
    ] {
        let vs = violations(input);
        assert_eq!(vs.len(), 1, "{input:?}: {vs:?}");
        assert_eq!(vs[0].path, "$");
        assert_eq!(vs[0].rule, "malformed-json");
        assert!(vs[0].message.contains("line"), "{}", vs[0].message);
    }
}

#[test]
fn non_object_top_level_is_rejected() {
    for input in ["[]", "42", "\"spec\"", "null", "true", "[{\"version\":8}]"] {
        let vs = violations(input.as_bytes());
        assert_eq!(vs.len(), 1, "{input}: {vs:?}");
        assert_eq!((vs[0].path.as_str(), vs[0].rule), ("$", "not-an-object"));
    }
}

#[test]
fn deeply_nested_arrays_are_rejected_without_overflow() {
    let depth = 10_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let vs = violations(nested.as_bytes());
    assert_eq!(vs[0].rule, "malformed-json");
    // Nested inside a field the parser's depth limit applies the same way.
    let inside = format!("{{\"version\":8,\"compose\":{nested}}}");
    let vs = violations(inside.as_bytes());
    assert_eq!((vs[0].path.as_str(), vs[0].rule), ("$", "malformed-json"));
    // Unclosed nesting too.
    let vs = violations("[".repeat(depth).as_bytes());
    assert_eq!(vs[0].rule, "malformed-json");
}

#[test]
fn ten_megabyte_strings_are_reported_briefly() {
    let huge = "a".repeat(10 * 1024 * 1024);
    let mut spec = valid_v8();
    spec["name"] = json!(huge);
    spec["description"] = json!(huge);
    spec["compose"][0]["environmentParameters"] = json!([huge]);
    spec["compose"][0]["repotag"] = json!(huge);
    spec["compose"][0]["domains"] = json!([huge]);
    spec["geolocation"] = json!([huge]);
    let vs = violations(&serde_json::to_vec(&spec).unwrap());
    assert!(has(&vs, "name", "name-too-long"));
    assert!(has(&vs, "description", "description-too-long"));
    assert!(has(
        &vs,
        "compose[0].environmentParameters[0]",
        "env-too-long"
    ));
    assert!(has(&vs, "compose[0].repotag", "repotag-too-long"));
    assert!(has(&vs, "compose[0].domains[0]", "domain-too-long"));
    assert!(has(&vs, "geolocation[0]", "geolocation-too-long"));
    for v in &vs {
        assert!(
            v.to_string().len() < 300,
            "report echoes the input: {} chars",
            v.to_string().len()
        );
    }
}

#[test]
fn wrong_types_are_reported_at_their_paths() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/version", json!("8"), "version", "bad-version"),
        ("/name", json!(42), "name", "wrong-type"),
        ("/owner", json!(["x"]), "owner", "wrong-type"),
        ("/compose", json!({"name": "x"}), "compose", "wrong-type"),
        ("/compose/0", json!("component"), "compose[0]", "wrong-type"),
        (
            "/compose/0/ports",
            json!("31111"),
            "compose[0].ports",
            "wrong-type-ports",
        ),
        (
            "/compose/0/ports/0",
            json!("31111"),
            "compose[0].ports[0]",
            "wrong-type-ports",
        ),
        (
            "/compose/0/ports/0",
            json!(31111.5),
            "compose[0].ports[0]",
            "too-many-decimals",
        ),
        (
            "/compose/0/containerPorts/0",
            json!(null),
            "compose[0].containerPorts[0]",
            "wrong-type-ports",
        ),
        (
            "/compose/0/cpu",
            json!("0.1"),
            "compose[0].cpu",
            "wrong-type-hw",
        ),
        (
            "/compose/0/ram",
            json!({}),
            "compose[0].ram",
            "wrong-type-hw",
        ),
        (
            "/compose/0/ram",
            json!(100.5),
            "compose[0].ram",
            "resource-not-whole",
        ),
        (
            "/compose/0/hdd",
            json!(-1),
            "compose[0].hdd",
            "resource-granularity",
        ),
        (
            "/compose/0/cpu",
            json!(0.123456789),
            "compose[0].cpu",
            "too-many-decimals",
        ),
        (
            "/compose/0/environmentParameters/0",
            json!(1),
            "compose[0].environmentParameters[0]",
            "wrong-type",
        ),
        (
            "/compose/0/commands",
            json!(true),
            "compose[0].commands",
            "wrong-type",
        ),
        (
            "/compose/0/repoauth",
            json!(false),
            "compose[0].repoauth",
            "wrong-type",
        ),
        ("/instances", json!("3"), "instances", "wrong-type"),
        ("/instances", json!(3.5), "instances", "too-many-decimals"),
        ("/expire", json!([1]), "expire", "wrong-type"),
        ("/contacts", json!("a@b.c"), "contacts", "wrong-type"),
        ("/geolocation/0", json!(7), "geolocation[0]", "wrong-type"),
        (
            "/staticip",
            json!("false"),
            "staticip",
            "wrong-type-staticip",
        ),
        ("/enterprise", json!(0), "enterprise", "wrong-type"),
        ("/datacenter", json!("no"), "datacenter", "wrong-type"),
    ];
    for (pointer, value, path, rule) in cases {
        let mut spec = valid_v8();
        if pointer == "/compose/0/ports/0"
            || pointer == "/compose/0/containerPorts/0"
            || pointer == "/compose/0/environmentParameters/0"
            || pointer == "/geolocation/0"
        {
            // Make sure the array has an element to replace.
            let parent = pointer.rsplit_once('/').unwrap().0;
            let arr = spec.pointer_mut(parent).unwrap().as_array_mut().unwrap();
            if arr.is_empty() {
                arr.push(json!("x"));
            }
        }
        match spec.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                spec.pointer_mut(parent)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .insert(key.to_owned(), value);
            }
        }
        let vs = violations(&serde_json::to_vec(&spec).unwrap());
        assert!(
            has(&vs, path, rule),
            "{pointer}: expected {path}: {rule}, got {vs:#?}"
        );
    }
}

#[test]
fn every_violation_is_reported_not_only_the_first() {
    let mut spec = valid_v8();
    spec["name"] = json!("zel-");
    spec["instances"] = json!(500);
    spec["compose"][0]["ports"] = json!([22, 31111, 31111, 70000, 30050, 5900]);
    spec["compose"][0]["containerPorts"] = json!([1]);
    spec["compose"][0]["cpu"] = json!(16);
    spec["extra"] = json!(1);
    let vs = violations(&serde_json::to_vec(&spec).unwrap());
    let expected = [
        ("name", "name-special-chars"),
        ("name", "name-reserved-prefix"),
        ("instances", "instances-out-of-range"),
        ("compose[0].ports[0]", "banned-port"),
        ("compose[0].ports[2]", "duplicate-port"),
        ("compose[0].ports[3]", "port-out-of-range"),
        ("compose[0].ports[4]", "banned-port"),
        ("compose[0].ports[5]", "banned-port"),
        ("compose[0].ports", "too-many-ports"),
        ("compose[0].containerPorts", "ports-length-mismatch"),
        ("compose[0].domains", "domains-length-mismatch"),
        ("compose", "resource-overflow-cpu"),
        ("extra", "unknown-key"),
    ];
    for (path, rule) in expected {
        assert!(has(&vs, path, rule), "missing {path}: {rule} in {vs:#?}");
    }
    let banned = vs.iter().find(|v| v.path == "compose[0].ports[0]").unwrap();
    assert_eq!(
        banned.to_string(),
        "compose[0].ports[0]: banned-port: host port 22 is reserved; choose another host port"
    );
}
