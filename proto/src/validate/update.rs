//! What an app update may change (FluxOS `checkAppUpdate`-style rules, checked on top of
//! the full validation of the new spec).
//!
//! May change: images (`repotag`), environment, commands, container ports, domains,
//! `containerData`, resources, `instances`, `geolocation`, `nodes`, `expire` (counted from
//! the update's own height), description and contacts.
//!
//! May not change:
//! - `name` (compared case-insensitively, as names are) and `owner`: an update is the
//!   owner's action on its own app; a new name or owner is a new registration.
//! - the spec `version` may not go down (FluxOS refuses a downgrade of the format).
//! - the components: the same count with the same names, in order (FluxOS refuses renamed
//!   components: the containers, volumes and data of a component are found by its name).
//! - host `ports`: stricter than FluxOS. Host ports are a network-wide resource the ledger
//!   gives to the registration that claimed them first (`scheduler::ledger`); letting an
//!   update claim new ones would need a second merge rule for a port taken by an update.
//!   Register the app anew (or another app) to move ports.

use crate::spec::AppSpec;

use super::report::Violation;

/// Rule ids of the update checks.
pub mod update_rule {
    pub const NAME: &str = "update-name";
    pub const OWNER: &str = "update-owner";
    pub const VERSION: &str = "update-version";
    pub const COMPONENTS: &str = "update-components";
    pub const PORTS: &str = "update-ports";
}

/// Every reason `new` may not replace `old` (both already valid specs).
pub fn check_update(old: &AppSpec, new: &AppSpec) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut v = |path: String, rule: &'static str, message: String| {
        out.push(Violation {
            path,
            rule,
            message,
        })
    };
    if !old.name.eq_ignore_ascii_case(&new.name) {
        v(
            "name".into(),
            update_rule::NAME,
            format!(
                "an update keeps the app's name {:?}, got {:?}; register a new app for a new name",
                old.name, new.name
            ),
        );
    }
    if old.owner != new.owner {
        v(
            "owner".into(),
            update_rule::OWNER,
            format!(
                "an update keeps the owner {:?}, got {:?}",
                old.owner, new.owner
            ),
        );
    }
    if new.version < old.version {
        v(
            "version".into(),
            update_rule::VERSION,
            format!(
                "the spec version may not go down: the app is at version {}, the update has {}",
                old.version, new.version
            ),
        );
    }
    let names = |s: &AppSpec| s.compose.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if names(old) != names(new) {
        v(
            "compose".into(),
            update_rule::COMPONENTS,
            format!(
                "an update keeps the components {:?} (same names, same order), got {:?}",
                names(old),
                names(new)
            ),
        );
    } else {
        for (i, (a, b)) in old.compose.iter().zip(&new.compose).enumerate() {
            if a.ports != b.ports {
                v(
                    format!("compose[{i}].ports"),
                    update_rule::PORTS,
                    format!(
                        "host ports cannot change in an update (they are held network-wide by the registration): keep {:?}, got {:?}",
                        a.ports, b.ports
                    ),
                );
            }
        }
    }
    out
}
