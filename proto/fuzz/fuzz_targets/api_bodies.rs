//! Arbitrary bytes → the JSON bodies the HTTP API accepts (`POST /api/v1/apps`,
//! `POST /api/v1/apps/{name}/renew`, `DELETE /api/v1/apps/{name}`), handled as the server
//! handles them: deserialize, verify the owner signature, and for a registration validate
//! the embedded spec. Checks: no panic, and a registration whose spec validates clean also
//! reads into the typed spec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::message::{AppCancel, AppRegistration, AppRenewal, OwnerSigned};
use proto::spec::AppSpec;
use proto::validate::{ValidationContext, validate_json};

fuzz_target!(|data: &[u8]| {
    if let Ok(reg) = serde_json::from_slice::<OwnerSigned<AppRegistration>>(data) {
        let _ = reg.verify();
        let spec = reg.action.spec_json.as_bytes();
        if validate_json(spec, &ValidationContext::default()).is_empty() {
            AppSpec::from_json(spec).expect("validated clean but does not read");
        }
    }
    if let Ok(renewal) = serde_json::from_slice::<OwnerSigned<AppRenewal>>(data) {
        let _ = renewal.verify();
    }
    if let Ok(cancel) = serde_json::from_slice::<OwnerSigned<AppCancel>>(data) {
        let _ = cancel.verify();
    }
});
