//! The typed spec: legacy normalisation, totals and tiers, expiry default, hashing.

use proto::spec::{AppSpec, DEFAULT_EXPIRE_BLOCKS, Enterprise};
use proto::tier::{Resources, Tier};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/flux-specs/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

#[test]
fn v3_spec_is_normalised_into_one_component() {
    let spec = AppSpec::from_json(&fixture("valid/v3-bitcoinwhitepaper.json")).unwrap();
    assert_eq!(spec.version, 3);
    assert_eq!(spec.compose.len(), 1);
    let c = &spec.compose[0];
    assert_eq!(c.name, "BitcoinWhitepaper");
    assert_eq!(c.repotag, "littlestache/bitcoinwhitepaper:latest");
    assert_eq!(c.ports, vec![35051]);
    assert_eq!(c.container_ports, vec![80]);
    assert_eq!(c.domains, vec![String::new()]);
    assert_eq!(c.container_data, "/bitcoinwhitepaper");
    assert_eq!(spec.instances, 3);
    assert_eq!(spec.totals(), Resources::new(0.1, 100, 1));
}

#[test]
fn v3_environment_spelling_is_read() {
    let mut raw: Value =
        serde_json::from_slice(&fixture("valid/v3-bitcoinwhitepaper.json")).unwrap();
    raw["enviromentParameters"] = json!(["A=1", "B=2"]);
    let spec = AppSpec::from_json(raw.to_string().as_bytes()).unwrap();
    assert_eq!(spec.compose[0].environment_parameters, vec!["A=1", "B=2"]);
}

#[test]
fn v1_single_port_spec_is_normalised() {
    let raw = json!({
        "version": 1, "name": "oldapp", "description": "a v1 app", "owner": "1abc",
        "repotag": "org/app:1", "port": 31001, "containerPort": 8000,
        "enviromentParameters": [], "commands": [], "containerData": "/data",
        "cpu": 0.5, "ram": 500, "hdd": 5, "tiered": false
    });
    let spec = AppSpec::from_json(raw.to_string().as_bytes()).unwrap();
    assert_eq!(spec.instances, proto::spec::LEGACY_DEFAULT_INSTANCES);
    assert_eq!(spec.compose[0].ports, vec![31001]);
    assert_eq!(spec.compose[0].container_ports, vec![8000]);
    assert_eq!(spec.compose[0].domains, vec![String::new()]);
}

#[test]
fn totals_and_required_tier() {
    let spec = AppSpec::from_json(&fixture(
        "valid/v8-max-resources-15cpu-59000ram-820hdd-boundary.json",
    ))
    .unwrap();
    let t = spec.totals();
    assert!((t.cpu - 15.0).abs() < 1e-9, "{t:?}");
    assert_eq!((t.ram, t.hdd), (59_000, 820));
    assert_eq!(spec.required_tier(), Some(Tier::Stratus));

    let small = AppSpec::from_json(&fixture("valid/v8-e2etestapp-fluxos-test-infra.json")).unwrap();
    assert_eq!(small.required_tier(), Some(Tier::Cumulus));
    assert_eq!(small.name, "e2eTestApp");
    assert_eq!(small.instances, 3);
}

#[test]
fn tiered_spec_uses_each_tiers_values() {
    let spec = AppSpec::from_json(&fixture("valid/v6-aave-tiered-ui-default-tiers.json")).unwrap();
    let c = &spec.compose[0];
    assert_eq!(c.tiered, Some(true));
    assert_eq!(spec.totals_on(Tier::Cumulus), Resources::new(0.5, 500, 10));
    assert_eq!(
        spec.totals_on(Tier::Stratus),
        Resources::new(3.5, 14_000, 285)
    );
    // Fits the Cumulus caps with its basic values, so any tier can host it.
    assert_eq!(spec.required_tier(), Some(Tier::Cumulus));
}

#[test]
fn expire_defaults_when_absent() {
    let v5 = AppSpec::from_json(&fixture("valid/v5-dibifetch-custom-domain.json")).unwrap();
    assert_eq!(v5.expire, None);
    assert_eq!(v5.expire_blocks(), DEFAULT_EXPIRE_BLOCKS);
    let v8 = AppSpec::from_json(&fixture("valid/v8-expire-1-cancellation-boundary.json")).unwrap();
    assert_eq!(v8.expire_blocks(), 1);
}

#[test]
fn enterprise_is_a_string_or_a_boolean() {
    let normal =
        AppSpec::from_json(&fixture("valid/v8-e2etestapp-fluxos-test-infra.json")).unwrap();
    assert_eq!(normal.enterprise, Some(Enterprise::Blob(String::new())));
    assert!(!normal.enterprise.as_ref().unwrap().is_enterprise());
    let flag = AppSpec::from_json(&fixture(
        "valid/v8-testnginxdave-enterprise-false-boolean.json",
    ))
    .unwrap();
    assert_eq!(flag.enterprise, Some(Enterprise::Flag(false)));
    let decrypted = AppSpec::from_json(&fixture(
        "valid/v8-testarcane-enterprise-true-decrypted-form.json",
    ))
    .unwrap();
    assert!(decrypted.enterprise.as_ref().unwrap().is_enterprise());
    assert!(!decrypted.is_encrypted());
    let blob = AppSpec::from_json(&fixture(
        "valid/v8-fluxtracker-enterprise-encrypted-public-form.json",
    ))
    .unwrap();
    assert!(blob.is_encrypted());
    assert!(blob.compose.is_empty());
}

#[test]
fn hash_ignores_key_order_and_whitespace_but_not_content() {
    let bytes = fixture("valid/v8-hytale-server-1comp-2ports.json");
    let spec = AppSpec::from_json(&bytes).unwrap();
    // Same content, compact and with keys in another order.
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    let reordered = {
        let obj = value.as_object().unwrap();
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.reverse();
        let body: Vec<String> = keys
            .iter()
            .map(|k| format!("{}:{}", json!(k), obj[*k]))
            .collect();
        format!("{{{}}}", body.join(","))
    };
    let same = AppSpec::from_json(reordered.as_bytes()).unwrap();
    assert_eq!(spec.spec_hash(), same.spec_hash());
    assert_eq!(spec.spec_hash().len(), 64);
    let mut changed = value.clone();
    changed["instances"] = json!(4);
    let other = AppSpec::from_json(changed.to_string().as_bytes()).unwrap();
    assert_ne!(spec.spec_hash(), other.spec_hash());
}

#[test]
fn canonical_json_is_sorted_and_reads_back() {
    for name in [
        "valid/v3-bitcoinwhitepaper.json",
        "valid/v4-wbo-marketplace-tiered.json",
        "valid/v7-abioticfactor-targeted-nodes-pgp-secrets.json",
        "valid/v8-131barb1-3comp-geo-5-allow-100-instances.json",
    ] {
        let spec = AppSpec::from_json(&fixture(name)).unwrap();
        let canonical = spec.to_canonical_json();
        assert!(
            !canonical.contains('\n') && !canonical.contains(": "),
            "{canonical}"
        );
        let again = AppSpec::parse(canonical.as_bytes()).unwrap();
        assert_eq!(again, spec, "{name}");
        assert_eq!(again.to_canonical_json(), canonical);
        let value: Value = serde_json::from_str(&canonical).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}

#[test]
fn parse_only_path_ignores_limits_but_needs_the_shape() {
    // Over the limits: validation rejects, the parse-only path reads it.
    let bytes = fixture("invalid/v6-instances-101.json");
    assert!(AppSpec::from_json(&bytes).is_err());
    assert_eq!(AppSpec::parse(&bytes).unwrap().instances, 101);
    // Missing a required field: both reject, with a message naming it.
    let err = AppSpec::parse(br#"{"version": 8, "compose": []}"#).unwrap_err();
    assert_eq!(err.violations[0].rule, "parse");
    assert!(err.to_string().contains("name"), "{err}");
}
