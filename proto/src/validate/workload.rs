//! Checks of one workload: a `compose[]` component (v4+) or the single container a v1–v3
//! spec describes at its top level. They are the same fields under slightly different
//! names and types, so one function reads both.

use serde_json::{Map, Value};

use super::limits::*;
use super::report::{Report, index, join, quote, rule};
use super::value::{
    check_decimals, is_whole, js_len, number, required_str, string_array, type_name,
};

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
        }
    }
    check_ports(obj, base, shape, facts, &mut w, r);
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
        }
    }
    w.hw = read_hw(obj, base, "", shape, true, r);
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
                w.tiers[t] = read_hw(obj, base, suffix, shape, w.tiered, r);
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

/// Host ports, container ports and domains.
fn check_ports(
    obj: &Map<String, Value>,
    base: &str,
    shape: Shape,
    facts: &AppFacts,
    w: &mut Workload,
    r: &mut Report,
) {
    if shape == Shape::V1 {
        let port = number(
            obj,
            base,
            "port",
            rule::MISSING_FIELD,
            rule::WRONG_TYPE_PORTS,
            0,
            r,
        );
        if let Some(p) = port {
            let path = join(base, "port");
            if let Some(p) = check_host_port(p, &path, facts.height, r) {
                w.host_ports.push((path, p));
            }
        }
        let cport = number(
            obj,
            base,
            "containerPort",
            rule::MISSING_FIELD,
            rule::WRONG_TYPE_PORTS,
            0,
            r,
        );
        if let Some(p) = cport {
            check_container_port(p, &join(base, "containerPort"), r);
        }
        return;
    }
    let as_strings = shape == Shape::V2V3;
    let ports = port_array(obj, base, "ports", as_strings, r);
    let container_ports = port_array(obj, base, "containerPorts", as_strings, r);
    let domains = string_array(obj, base, "domains", rule::MISSING_FIELD, r);
    if let Some((_, values)) = &ports {
        for &(i, p) in values {
            let path = index(&join(base, "ports"), i);
            if let Some(p) = check_host_port(p, &path, facts.height, r) {
                w.host_ports.push((path, p));
            }
        }
    }
    if let Some((_, values)) = &container_ports {
        for &(i, p) in values {
            check_container_port(p, &index(&join(base, "containerPorts"), i), r);
        }
    }
    if let Some(domains) = &domains {
        for &(i, d) in domains {
            if js_len(d) > DOMAIN_MAX {
                r.push(
                    &index(&join(base, "domains"), i),
                    rule::DOMAIN_TOO_LONG,
                    format!("domain {} is longer than {DOMAIN_MAX} characters", quote(d)),
                );
            }
        }
    }
    let Some((port_count, _)) = ports else { return };
    if let Some((n, _)) = container_ports {
        if n != port_count {
            r.push(
                &join(base, "containerPorts"),
                rule::PORTS_LENGTH_MISMATCH,
                format!("{n} containerPorts for {port_count} ports; give one container port per host port"),
            );
        }
    }
    if let Some(n) = array_len(obj, "domains") {
        if n != port_count {
            r.push(
                &join(base, "domains"),
                rule::DOMAINS_LENGTH_MISMATCH,
                format!("{n} domains for {port_count} ports; give one domain (or \"\") per port"),
            );
        }
    }
    if port_count > PORTS_PER_COMPONENT_MAX {
        r.push(
            &join(base, "ports"),
            rule::TOO_MANY_PORTS,
            format!(
                "{port_count} ports; at most {PORTS_PER_COMPONENT_MAX} are allowed per component"
            ),
        );
    }
}

fn array_len(obj: &Map<String, Value>, key: &str) -> Option<usize> {
    obj.get(key).and_then(Value::as_array).map(Vec::len)
}

/// A port array: numbers (v4+) or numeric strings (v2/v3). Returns the array length and
/// the usable whole-number entries with their index.
fn port_array(
    obj: &Map<String, Value>,
    base: &str,
    key: &str,
    as_strings: bool,
    r: &mut Report,
) -> Option<(usize, Vec<(usize, f64)>)> {
    let path = join(base, key);
    let expected = if as_strings {
        "numeric strings (v2/v3)"
    } else {
        "numbers"
    };
    let items = match obj.get(key) {
        None | Some(Value::Null) => {
            r.push(
                &path,
                rule::MISSING_FIELD,
                format!("`{key}` is required (an array of {expected})"),
            );
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            r.push(
                &path,
                rule::WRONG_TYPE_PORTS,
                format!(
                    "`{key}` must be an array of {expected}, not {}",
                    type_name(other)
                ),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = index(&path, i);
        let value = match (item, as_strings) {
            (Value::Number(n), false) => n.as_f64(),
            (Value::String(s), true) => match s.trim().parse::<f64>() {
                Ok(x) if x.is_finite() => Some(x),
                _ => {
                    r.push(
                        &item_path,
                        rule::WRONG_TYPE_PORTS,
                        format!("port {} is not a number", quote(s)),
                    );
                    continue;
                }
            },
            (other, _) => {
                r.push(
                    &item_path,
                    rule::WRONG_TYPE_PORTS,
                    format!(
                        "`{key}` entries must be {expected}, not {}",
                        type_name(other)
                    ),
                );
                continue;
            }
        };
        if let Some(x) = value.and_then(|x| check_decimals(x, &item_path, key, 0, r)) {
            out.push((i, x));
        }
    }
    Some((items.len(), out))
}

/// Range and ban list of a host port; `Some(port)` when it is in range.
fn check_host_port(p: f64, path: &str, height: u32, r: &mut Report) -> Option<u32> {
    let (min, max) = if height >= PORT_RANGE_CHANGE_HEIGHT {
        (PORT_MIN, PORT_MAX)
    } else {
        (PORT_MIN_LEGACY, PORT_MAX_LEGACY)
    };
    if p < f64::from(min) || p > f64::from(max) {
        r.push(
            path,
            rule::PORT_OUT_OF_RANGE,
            format!("host port {p} is outside the allowed range {min}-{max}"),
        );
        return None;
    }
    // In range, so it fits a u32 exactly.
    let port = p as u32;
    if is_banned_port(port) {
        r.push(
            path,
            rule::BANNED_PORT,
            format!("host port {port} is reserved; choose another host port"),
        );
    }
    Some(port)
}

fn check_container_port(p: f64, path: &str, r: &mut Report) {
    if p < 0.0 || p > f64::from(CONTAINER_PORT_MAX) {
        r.push(
            path,
            rule::PORT_OUT_OF_RANGE,
            format!("container port {p} is outside 0-{CONTAINER_PORT_MAX}"),
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
    let count = array_len(obj, key).unwrap_or(entries.len());
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
    shape: Shape,
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
        // v1–v3 granularity is checked with the totals; from v4 ram and hdd must still
        // be whole MB and GB: a container limit is set in whole units.
        if shape == Shape::Compose && dim != "cpu" && !is_whole(x) {
            r.push(
                &path,
                rule::RESOURCE_NOT_WHOLE,
                format!("`{key}` is {x}; it must be a whole number"),
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
