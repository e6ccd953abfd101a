//! Checks of one workload: a `compose[]` component (v4+) or the single container a v1–v3
//! spec describes at its top level. They are the same fields under slightly different
//! names and types, so one function reads both.

use serde_json::{Map, Value};

use crate::tier::APP_MAX;

use super::limits::*;
use super::ports;
use super::report::{Report, index, join, quote, rule};
use super::runnable;
use super::value::{is_whole, js_len, number, required_str, string_array, type_name};

/// Which layout the workload is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// v1: one `port` and one `containerPort`, numbers.
    V1,
    /// v2/v3: `ports`/`containerPorts` arrays of numeric strings, `domains`.
    V2V3,
    /// v4+: a `compose[]` entry with numeric port arrays.
    Compose,
}

/// App-level facts the component rules depend on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppFacts {
    pub version: u32,
    pub height: u32,
    /// v7: a non-empty `nodes[]` makes the app "enterprise" (secrets, private images).
    pub nodes_nonempty: bool,
    /// v8: a truthy `enterprise` value.
    pub enterprise: bool,
}

/// cpu (cores), ram (MB), hdd (GB) as written; `None` where the value was unusable.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hw {
    pub cpu: Option<f64>,
    pub ram: Option<f64>,
    pub hdd: Option<f64>,
}

/// Tier field suffixes in FluxOS order: Cumulus (`basic`), Nimbus (`super`), Stratus
/// (`bamf`).
pub(crate) const TIER_SUFFIXES: [&str; 3] = ["basic", "super", "bamf"];

/// What the app-wide checks (unique ports, totals) need from a workload.
#[derive(Debug, Default)]
pub(crate) struct Workload {
    /// Host ports in range, with their paths.
    pub host_ports: Vec<(String, u32)>,
    pub hw: Hw,
    pub tiered: bool,
    /// Per-tier values when `tiered` (indexed like [`TIER_SUFFIXES`]).
    pub tiers: [Hw; 3],
}

pub(crate) fn check_workload(
    obj: &Map<String, Value>,
    base: &str,
    shape: Shape,
    facts: &AppFacts,
    r: &mut Report,
) -> Workload {
    let mut w = Workload::default();
    if shape == Shape::Compose {
        check_component_identity(obj, base, facts.version, r);
    }
    if let Some(tag) = required_str(obj, base, "repotag", rule::MISSING_FIELD, true, r) {
        if js_len(tag) > REPOTAG_MAX {
            r.push(
                &join(base, "repotag"),
                rule::REPOTAG_TOO_LONG,
                format!("repotag is longer than {REPOTAG_MAX} characters"),
            );
        } else if !tag.is_empty() {
            runnable::check_repotag(tag, &join(base, "repotag"), r);
        }
    }
    ports::check_ports(obj, base, shape, facts, &mut w, r);
    let env_key = if shape == Shape::Compose {
        "environmentParameters"
    } else {
        // v1–v3 spell it without the second "n".
        "enviromentParameters"
    };
    check_string_list(
        obj,
        base,
        env_key,
        ENV_MAX,
        ENV_ENTRY_MAX,
        rule::TOO_MANY_ENV,
        rule::ENV_TOO_LONG,
        r,
    );
    runnable::check_env(obj, base, env_key, r);
    super::health::check_health(obj, base, env_key, r);
    check_string_list(
        obj,
        base,
        "commands",
        COMMANDS_MAX,
        COMMAND_ENTRY_MAX,
        rule::TOO_MANY_COMMANDS,
        rule::COMMAND_TOO_LONG,
        r,
    );
    if let Some(data) = required_str(obj, base, "containerData", rule::MISSING_FIELD, false, r) {
        let len = js_len(data);
        let path = join(base, "containerData");
        if len < CONTAINER_DATA_MIN {
            r.push(
                &path,
                rule::CONTAINERDATA_TOO_SHORT,
                "containerData must name a data folder (at least 2 characters); use /tmp when the component keeps no data",
            );
        } else if len > CONTAINER_DATA_MAX {
            r.push(
                &path,
                rule::CONTAINERDATA_TOO_LONG,
                format!("containerData is longer than {CONTAINER_DATA_MAX} characters"),
            );
        } else {
            runnable::check_container_data(data, &path, r);
        }
    }
    w.hw = read_hw(obj, base, "", true, r);
    if shape == Shape::Compose {
        runnable::check_minimums(&w.hw, base, r);
    }
    if facts.version <= 7 {
        match obj.get("tiered") {
            Some(Value::Bool(b)) => w.tiered = *b,
            None | Some(Value::Null) => r.push(
                &join(base, "tiered"),
                rule::MISSING_FIELD,
                "`tiered` is required for specs up to v7 (true or false)",
            ),
            Some(other) => r.push(
                &join(base, "tiered"),
                rule::WRONG_TYPE,
                format!("`tiered` must be true or false, not {}", type_name(other)),
            ),
        }
        // Tier values are required when `tiered` is true; when present anyway they must
        // still be well-formed, since they are part of what the owner signed.
        for (t, suffix) in TIER_SUFFIXES.iter().enumerate() {
            let present = ["cpu", "ram", "hdd"]
                .iter()
                .any(|dim| obj.contains_key(&format!("{dim}{suffix}")));
            if w.tiered || present {
                w.tiers[t] = read_hw(obj, base, suffix, w.tiered, r);
            }
        }
    }
    check_private_fields(obj, base, facts, r);
    w
}

/// Component `name` and `description` (v4+).
fn check_component_identity(obj: &Map<String, Value>, base: &str, version: u32, r: &mut Report) {
    let path = join(base, "name");
    match obj.get("name") {
        None | Some(Value::Null) => r.push(
            &path,
            rule::MISSING_COMPONENT_NAME,
            "component `name` is required",
        ),
        Some(Value::String(s)) if s.is_empty() => r.push(
            &path,
            rule::MISSING_COMPONENT_NAME,
            "component `name` must not be empty",
        ),
        Some(Value::String(s)) => check_component_name(s, &path, version, r),
        Some(other) => r.push(
            &path,
            rule::WRONG_TYPE,
            format!(
                "component `name` must be a string, not {}",
                type_name(other)
            ),
        ),
    }
    if let Some(d) = required_str(obj, base, "description", rule::MISSING_FIELD, false, r) {
        if js_len(d) > DESCRIPTION_MAX {
            r.push(
                &join(base, "description"),
                rule::DESCRIPTION_TOO_LONG,
                format!("component description is longer than {DESCRIPTION_MAX} characters"),
            );
        }
    }
}

fn check_component_name(name: &str, path: &str, version: u32, r: &mut Report) {
    let max = if version >= 8 {
        NAME_MAX_V8
    } else {
        NAME_MAX_LEGACY
    };
    if js_len(name) > max {
        r.push(
            path,
            rule::COMPONENT_NAME_TOO_LONG,
            format!("component name is longer than {max} characters"),
        );
    }
    // Case-sensitive, as in FluxOS: `Flux…` is allowed.
    if name.starts_with("zel") || name.starts_with("flux") {
        r.push(
            path,
            rule::COMPONENT_NAME_RESERVED_PREFIX,
            format!(
                "component name {} starts with a reserved prefix (zel, flux)",
                quote(name)
            ),
        );
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        r.push(
            path,
            rule::COMPONENT_NAME_SPECIAL_CHARS,
            format!(
                "component name {} may contain only a-z, A-Z and 0-9",
                quote(name)
            ),
        );
    }
}

/// A list of strings with a count limit and a per-entry length limit.
#[allow(clippy::too_many_arguments)]
fn check_string_list(
    obj: &Map<String, Value>,
    base: &str,
    key: &str,
    max_count: usize,
    max_len: usize,
    count_rule: &'static str,
    len_rule: &'static str,
    r: &mut Report,
) {
    let Some(entries) = string_array(obj, base, key, rule::MISSING_FIELD, r) else {
        return;
    };
    let path = join(base, key);
    let count = ports::array_len(obj, key).unwrap_or(entries.len());
    if count > max_count {
        r.push(
            &path,
            count_rule,
            format!("{count} entries in `{key}`; at most {max_count} are allowed"),
        );
    }
    for (i, s) in entries {
        if js_len(s) > max_len {
            r.push(
                &index(&path, i),
                len_rule,
                format!("entry {} is longer than {max_len} characters", quote(s)),
            );
        }
    }
}

/// `cpu{suffix}`, `ram{suffix}`, `hdd{suffix}`: numbers with at most 8 decimals; absent
/// ones are reported only when `required`.
fn read_hw(
    obj: &Map<String, Value>,
    base: &str,
    suffix: &str,
    required: bool,
    r: &mut Report,
) -> Hw {
    let mut read = |dim: &str| {
        let key = format!("{dim}{suffix}");
        if !required && obj.get(&key).is_none_or(Value::is_null) {
            return None;
        }
        let x = number(
            obj,
            base,
            &key,
            rule::MISSING_FIELD,
            rule::WRONG_TYPE_HW,
            MAX_DECIMALS,
            r,
        )?;
        let path = join(base, &key);
        if x < 0.0 {
            r.push(
                &path,
                rule::RESOURCE_GRANULARITY,
                format!("`{key}` is {x}; it must not be negative"),
            );
            return None;
        }
        // Stricter than FluxOS from v4 (which checks only totals): ram and hdd are whole
        // MB and GB, the units a container limit is set in.
        if dim != "cpu" && !is_whole(x) {
            r.push(
                &path,
                rule::RESOURCE_NOT_WHOLE,
                format!("`{key}` is {x}; it must be a whole number"),
            );
            return None;
        }
        // Tier values on an untiered component are ignored by FluxOS, so no total covers
        // them; they must still be within the per-app maximum.
        let cap = match dim {
            "cpu" => APP_MAX.cpu,
            "ram" => APP_MAX.ram as f64,
            _ => APP_MAX.hdd as f64,
        };
        if !required && x > cap {
            r.push(
                &path,
                rule::RESOURCE_OVERFLOW_TIER,
                format!("`{key}` is {x}; it must be at most {cap}"),
            );
            return None;
        }
        Some(x)
    };
    Hw {
        cpu: read("cpu"),
        ram: read("ram"),
        hdd: read("hdd"),
    }
}

/// v7 `secrets`/`repoauth` and v8 `repoauth`: required strings, non-empty only for
/// enterprise apps (v7: a non-empty `nodes[]`; v8: a truthy `enterprise`).
fn check_private_fields(obj: &Map<String, Value>, base: &str, facts: &AppFacts, r: &mut Report) {
    let enterprise = match facts.version {
        7 => facts.nodes_nonempty,
        8 => facts.enterprise,
        _ => return,
    };
    if facts.version == 7 {
        if let Some(secrets) = required_str(obj, base, "secrets", rule::MISSING_SECRETS, false, r) {
            let path = join(base, "secrets");
            if !enterprise && !secrets.is_empty() {
                r.push(
                    &path,
                    rule::SECRETS_NEED_NODES,
                    "secrets are only allowed when `nodes` lists the target nodes",
                );
            } else if js_len(secrets) > SECRETS_MAX {
                r.push(
                    &path,
                    rule::SECRETS_TOO_LONG,
                    format!("secrets are longer than {SECRETS_MAX} characters"),
                );
            }
        }
    }
    if let Some(auth) = required_str(obj, base, "repoauth", rule::MISSING_REPOAUTH, false, r) {
        let path = join(base, "repoauth");
        if !enterprise && !auth.is_empty() {
            r.push(
                &path,
                rule::REPOAUTH_NEEDS_ENTERPRISE,
                "private registry credentials are only allowed for enterprise apps; use \"\"",
            );
        } else if js_len(auth) > REPOAUTH_MAX {
            r.push(
                &path,
                rule::REPOAUTH_TOO_LONG,
                format!("repoauth is longer than {REPOAUTH_MAX} characters"),
            );
        }
    }
}
