//! Keys each spec version allows (FluxOS `verifyObjectKeysCorrectnessOfApp`). Anything else
//! is reported: a signed spec must not carry fields that nodes would silently drop.

use serde_json::{Map, Value};

use super::report::{Report, index, join, rule};

const TIER_KEYS: [&str; 10] = [
    "tiered", "cpubasic", "rambasic", "hddbasic", "cpusuper", "ramsuper", "hddsuper", "cpubamf",
    "rambamf", "hddbamf",
];
const COMMON_TOP: [&str; 4] = ["version", "name", "description", "owner"];
const LEGACY_WORKLOAD: [&str; 7] = [
    "repotag",
    "enviromentParameters",
    "commands",
    "containerData",
    "cpu",
    "ram",
    "hdd",
];
const COMPONENT_BASE: [&str; 12] = [
    "name",
    "description",
    "repotag",
    "ports",
    "containerPorts",
    "environmentParameters",
    "commands",
    "containerData",
    "domains",
    "cpu",
    "ram",
    "hdd",
];

fn top_level_extra(version: u32) -> &'static [&'static str] {
    match version {
        1 => &["port", "containerPort"],
        2 => &["ports", "containerPorts", "domains"],
        3 => &["ports", "containerPorts", "domains", "instances"],
        4 => &["compose", "instances"],
        5 => &["compose", "instances", "contacts", "geolocation"],
        6 => &["compose", "instances", "contacts", "geolocation", "expire"],
        7 => &[
            "compose",
            "instances",
            "contacts",
            "geolocation",
            "expire",
            "nodes",
            "staticip",
        ],
        // `datacenter` arrived with FluxOS v8.17 (data-centre placement for enterprise owners).
        _ => &[
            "compose",
            "instances",
            "contacts",
            "geolocation",
            "expire",
            "nodes",
            "staticip",
            "enterprise",
            "datacenter",
        ],
    }
}

fn top_level_allowed(version: u32, key: &str) -> bool {
    COMMON_TOP.contains(&key)
        || top_level_extra(version).contains(&key)
        || (version <= 3 && (LEGACY_WORKLOAD.contains(&key) || TIER_KEYS.contains(&key)))
}

fn component_allowed(version: u32, key: &str) -> bool {
    COMPONENT_BASE.contains(&key)
        || match version {
            4..=6 => TIER_KEYS.contains(&key),
            7 => TIER_KEYS.contains(&key) || key == "secrets" || key == "repoauth",
            _ => key == "repoauth",
        }
}

/// Reports every key the version does not define, at its own path.
pub(crate) fn check_keys(obj: &Map<String, Value>, version: u32, r: &mut Report) {
    for key in obj.keys() {
        if !top_level_allowed(version, key) {
            r.push(
                key,
                rule::UNKNOWN_KEY,
                format!("`{key}` is not a key of a v{version} app specification; remove it"),
            );
        }
    }
    if version < 4 {
        return;
    }
    let Some(compose) = obj.get("compose").and_then(Value::as_array) else {
        return;
    };
    for (i, component) in compose.iter().enumerate() {
        let Some(component) = component.as_object() else {
            continue;
        };
        let base = index("compose", i);
        for key in component.keys() {
            if !component_allowed(version, key) {
                r.push(
                    &join(&base, key),
                    rule::UNKNOWN_KEY,
                    format!("`{key}` is not a key of a v{version} component; remove it"),
                );
            }
        }
    }
}
