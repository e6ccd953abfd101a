//! Specs with the reserved `FLUXNODE_HEALTHCHECK` entry (tests/data/health/): the valid
//! ones validate clean and read the declared check; each invalid one is rejected with the
//! entry's path (`compose[0].environmentParameters[N]`) and a health rule id. The shared
//! corpus (tests/data/flux-specs) is checked unchanged by `fixtures.rs`.

use std::path::Path;

use proto::spec::AppSpec;
use proto::validate::{ValidationContext, validate_json};

fn files(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/health")
        .join(kind);
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn valid_health_specs_validate_and_parse() {
    let valid = files("valid");
    assert_eq!(valid.len(), 3);
    for f in valid {
        let bytes = std::fs::read(&f).unwrap();
        let v = validate_json(&bytes, &ValidationContext::default());
        assert!(v.is_empty(), "{}: {v:?}", f.display());
        let spec = AppSpec::from_json(&bytes).unwrap();
        let c = &spec.compose[0];
        let (_, check) =
            proto::health::declared(&c.environment_parameters, &c.container_ports).unwrap();
        check.unwrap();
    }
}

#[test]
fn invalid_health_specs_are_rejected_at_the_entry() {
    let expected = [
        (
            "bad-duration",
            "compose[0].environmentParameters[1]",
            "bad-healthcheck",
        ),
        (
            "port-not-declared",
            "compose[0].environmentParameters[1]",
            "bad-healthcheck",
        ),
        (
            "repeated",
            "compose[0].environmentParameters[2]",
            "healthcheck-repeated",
        ),
        (
            "timeout-over-period",
            "compose[0].environmentParameters[1]",
            "bad-healthcheck",
        ),
        (
            "unknown-option",
            "compose[0].environmentParameters[1]",
            "bad-healthcheck",
        ),
        (
            "unknown-probe",
            "compose[0].environmentParameters[1]",
            "bad-healthcheck",
        ),
    ];
    let invalid = files("invalid");
    assert_eq!(invalid.len(), expected.len());
    for (f, (name, path, rule)) in invalid.iter().zip(expected) {
        assert_eq!(f.file_stem().unwrap(), name);
        let v = validate_json(&std::fs::read(f).unwrap(), &ValidationContext::default());
        assert_eq!(v.len(), 1, "{name}: {v:?}");
        assert_eq!(
            (v[0].path.as_str(), v[0].rule),
            (path, rule),
            "{name}: {}",
            v[0]
        );
    }
}
