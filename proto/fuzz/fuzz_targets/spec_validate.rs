//! Arbitrary bytes → `AppSpec::from_json` (parse + validate).
//!
//! Beyond "never panics", it checks two properties:
//! - whatever validates also reads into the typed spec (the validator and the types agree:
//!   no `parse` violation after a clean validation);
//! - a valid spec's canonical JSON reads back to the same spec hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::spec::AppSpec;

fuzz_target!(|data: &[u8]| {
    let _ = AppSpec::parse(data);
    match AppSpec::from_json(data) {
        Ok(spec) => {
            let canonical = spec.to_canonical_json();
            let again = AppSpec::parse(canonical.as_bytes())
                .unwrap_or_else(|e| panic!("canonical JSON does not read back: {e}\n{canonical}"));
            assert_eq!(again.spec_hash(), spec.spec_hash(), "{canonical}");
            let _ = spec.required_tier();
            let _ = spec.expire_blocks();
        }
        Err(e) => {
            assert!(!e.violations.is_empty());
            assert!(
                e.violations.iter().all(|v| v.rule != "parse"),
                "validated clean but the typed spec rejected it: {e}"
            );
        }
    }
});
