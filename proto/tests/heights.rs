//! Rules that changed at a fork apply by the height given in the context.

use proto::validate::{ValidationContext, limits, validate_json};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/flux-specs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn rules_at(spec: &Value, height: u32) -> Vec<(String, &'static str)> {
    validate_json(
        &serde_json::to_vec(spec).unwrap(),
        &ValidationContext::at_height(height),
    )
    .into_iter()
    .map(|v| (v.path, v.rule))
    .collect()
}

#[test]
fn default_height_is_the_corpus_height() {
    assert_eq!(ValidationContext::default().height, limits::DEFAULT_HEIGHT);
    assert_eq!(limits::DEFAULT_HEIGHT, 2_996_914);
}

#[test]
fn host_port_range_widened_at_1_420_000() {
    let spec = fixture("valid/v7-jetpack2-12-target-nodes-empty-contact.json");
    let port = spec["compose"][0]["ports"][0].as_u64().unwrap();
    assert!(port >= 31_000, "fixture port {port}");
    let mut low = spec.clone();
    low["compose"][0]["ports"][0] = json!(8000);
    let path = "compose[0].ports[0]".to_owned();
    assert!(!rules_at(&low, 1_420_000).contains(&(path.clone(), "port-out-of-range")));
    assert!(rules_at(&low, 1_419_999).contains(&(path, "port-out-of-range")));
}

#[test]
fn ten_components_from_1_300_000_five_before() {
    let spec = fixture("valid/v8-10-components-boundary.json");
    assert!(rules_at(&spec, limits::DEFAULT_HEIGHT).is_empty());
    // Before 1,300,000 at most five components (v8 is not active then either).
    let early = rules_at(&spec, 1_299_999);
    assert!(early.contains(&("compose".to_owned(), "too-many-components")));
    assert!(early.contains(&("version".to_owned(), "version-not-active")));
}

#[test]
fn single_instance_v8_from_2_176_519() {
    let spec = fixture("valid/v8-5730e893-eth-owner-1-instance-geo-nl-sg.json");
    assert_eq!(spec["instances"], json!(1));
    assert!(rules_at(&spec, 2_176_519).is_empty());
    assert!(
        rules_at(&spec, 2_176_518).contains(&("instances".to_owned(), "instances-out-of-range"))
    );
}

#[test]
fn expire_maximum_quadrupled_at_the_pon_fork() {
    let mut spec = fixture("valid/v8-cloudmcp-1comp.json");
    spec["expire"] = json!(300_000);
    assert!(rules_at(&spec, 2_020_000).is_empty());
    assert!(rules_at(&spec, 2_019_999).contains(&("expire".to_owned(), "expire-out-of-range")));
}

#[test]
fn datacenter_is_allowed_for_listed_enterprise_owners() {
    let spec = fixture("invalid/v8-datacenter-true-not-enterprise-owner.json");
    let bytes = serde_json::to_vec(&spec).unwrap();
    let owner = spec["owner"].as_str().unwrap().to_owned();
    let ctx = ValidationContext {
        enterprise_owners: vec![owner],
        ..ValidationContext::default()
    };
    assert!(validate_json(&bytes, &ctx).is_empty());
    assert!(!validate_json(&bytes, &ValidationContext::default()).is_empty());
}
