//! Every file of the Flux app-spec corpus gets the verdict its INDEX.tsv names: valid
//! files validate clean, invalid ones report (at least) the INDEX rule id. The corpus and
//! its README (which explains each verdict) are in tests/data/flux-specs/.

use std::path::{Path, PathBuf};

use proto::spec::AppSpec;
use proto::validate::{ValidationContext, validate_json};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flux-specs")
}

struct Row {
    file: String,
    expected: String,
    rule: String,
}

fn read_index(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(
        &header[..4],
        ["file", "version", "expected", "rule"],
        "INDEX.tsv header"
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Row {
                file: cols[0].to_owned(),
                expected: cols[2].to_owned(),
                rule: cols[3].to_owned(),
            }
        })
        .collect()
}

#[test]
fn every_index_row_gets_its_verdict() {
    let root = corpus();
    let rows = read_index(&root.join("INDEX.tsv"));
    assert_eq!(rows.len(), 88, "INDEX.tsv rows");
    let ctx = ValidationContext::default();
    let mut failures = Vec::new();
    for row in &rows {
        let bytes = std::fs::read(root.join(&row.file)).unwrap();
        let violations = validate_json(&bytes, &ctx);
        match row.expected.as_str() {
            "valid" => {
                if !violations.is_empty() {
                    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
                    failures.push(format!(
                        "{}: expected valid, got:\n    {}",
                        row.file,
                        list.join("\n    ")
                    ));
                    continue;
                }
                // A valid file also reads into the typed spec.
                if let Err(e) = AppSpec::from_json(&bytes) {
                    failures.push(format!(
                        "{}: validated clean but did not parse: {e}",
                        row.file
                    ));
                }
            }
            "invalid" => {
                if !violations.iter().any(|v| v.rule == row.rule) {
                    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
                    failures.push(format!(
                        "{}: expected rule {}, got:\n    {}",
                        row.file,
                        row.rule,
                        list.join("\n    ")
                    ));
                }
                let err = AppSpec::from_json(&bytes).expect_err(&row.file);
                assert!(!err.violations.is_empty());
            }
            other => panic!("{}: unknown expected value {other}", row.file),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// The two files in needs-registry/ are rejected by FluxOS only after an image-registry
/// lookup (architectures). This validator does no network I/O, so it accepts them, as
/// the corpus README says a validator without registry access does.
#[test]
fn registry_dependent_files_are_accepted_offline() {
    let root = corpus();
    let rows = read_index(&root.join("needs-registry/INDEX.tsv"));
    assert_eq!(rows.len(), 2);
    for row in rows {
        let bytes = std::fs::read(root.join(&row.file)).unwrap();
        let spec = AppSpec::from_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", row.file));
        assert!(!spec.compose.is_empty());
        assert!(row.rule.starts_with("arch-"), "{}", row.rule);
    }
}

/// Invalid files with several problems report all of them, not only the first.
#[test]
fn multi_violation_files_report_every_problem() {
    let root = corpus();
    let bytes = std::fs::read(
        root.join("invalid/v8-fluxexplorer-real-missing-repoauth-flux-prefix-unknown-keys.json"),
    )
    .unwrap();
    let violations = validate_json(&bytes, &ValidationContext::default());
    let rules: Vec<&str> = violations.iter().map(|v| v.rule).collect();
    // The INDEX note lists: missing repoauth, missing contacts/geolocation/expire/nodes,
    // a flux-prefixed name, and the non-v8 component keys shm and tiered.
    for expected in [
        "missing-repoauth",
        "name-reserved-prefix",
        "unknown-key",
        "missing-expire",
        "missing-nodes",
    ] {
        assert!(
            rules.contains(&expected),
            "{expected} missing from {rules:?}"
        );
    }
    let unknown: Vec<&str> = violations
        .iter()
        .filter(|v| v.rule == "unknown-key")
        .map(|v| v.path.as_str())
        .collect();
    assert!(unknown.iter().any(|p| p.ends_with(".shm")), "{unknown:?}");
    assert!(
        unknown.iter().any(|p| p.ends_with(".tiered")),
        "{unknown:?}"
    );
}
