//! App-level fields: instances, contacts, geolocation, expire, nodes, staticip,
//! enterprise and datacenter, and host-port uniqueness across the app.

use serde_json::{Map, Value};

use super::ValidationContext;
use super::limits;
use super::report::{Report, index, quote, rule};
use super::value::{self, is_falsy, js_len, string_array, type_name};
use super::workload::{AppFacts, Workload};

/// instances, contacts, geolocation, expire, nodes, staticip, enterprise, datacenter.
pub(crate) fn check_app_fields(
    obj: &Map<String, Value>,
    owner: Option<&str>,
    ctx: &ValidationContext,
    facts: &AppFacts,
    r: &mut Report,
) {
    let v = facts.version;
    if v >= 3 {
        check_instances(obj, facts, r);
    }
    if v >= 5 {
        check_list(
            obj,
            "contacts",
            limits::CONTACTS_MAX,
            limits::CONTACT_MAX,
            rule::TOO_MANY_CONTACTS,
            rule::CONTACT_TOO_LONG,
            r,
        );
        check_list(
            obj,
            "geolocation",
            limits::GEOLOCATIONS_MAX,
            limits::GEOLOCATION_MAX,
            rule::TOO_MANY_GEOLOCATIONS,
            rule::GEOLOCATION_TOO_LONG,
            r,
        );
    }
    if v >= 6 {
        check_expire(obj, ctx.height, r);
    }
    if v >= 7 {
        if obj.get("nodes").is_none_or(Value::is_null) {
            r.push(
                "nodes",
                rule::MISSING_NODES,
                "`nodes` is required from v7 (use [] for no target nodes)",
            );
        } else {
            check_list(
                obj,
                "nodes",
                limits::NODES_MAX,
                limits::NODE_MAX,
                rule::TOO_MANY_NODES,
                rule::NODE_TOO_LONG,
                r,
            );
        }
        match obj.get("staticip") {
            Some(Value::Bool(_)) => {}
            None | Some(Value::Null) => r.push(
                "staticip",
                rule::MISSING_FIELD,
                "`staticip` is required from v7 (true or false)",
            ),
            Some(other) => r.push(
                "staticip",
                rule::WRONG_TYPE_STATICIP,
                format!("`staticip` must be true or false, not {}", type_name(other)),
            ),
        }
    }
    if v >= 8 {
        check_enterprise(obj, owner, ctx, facts, r);
    }
}

fn check_instances(obj: &Map<String, Value>, facts: &AppFacts, r: &mut Report) {
    let raw = obj.get("instances");
    if is_falsy(raw) {
        r.push(
            "instances",
            rule::MISSING_INSTANCES,
            "`instances` is required and must be at least 1",
        );
        return;
    }
    let Some(n) = raw.and_then(Value::as_f64) else {
        let found = raw.map_or("nothing", type_name);
        r.push(
            "instances",
            rule::WRONG_TYPE,
            format!("`instances` must be a number, not {found}"),
        );
        return;
    };
    if value::check_decimals(n, "instances", "instances", 0, r).is_none() {
        return;
    }
    let min = if facts.version >= 8 && facts.height >= limits::INSTANCES_MIN_V8_HEIGHT {
        limits::INSTANCES_MIN_V8
    } else {
        limits::INSTANCES_MIN
    };
    let max = limits::INSTANCES_MAX;
    if n < min as f64 || n > max as f64 {
        r.push(
            "instances",
            rule::INSTANCES_OUT_OF_RANGE,
            format!(
                "instances is {n}; it must be between {min} and {max} for a v{} spec",
                facts.version
            ),
        );
    }
}

fn check_expire(obj: &Map<String, Value>, height: u32, r: &mut Report) {
    let raw = obj.get("expire");
    if is_falsy(raw) {
        r.push(
            "expire",
            rule::MISSING_EXPIRE,
            "`expire` (blocks) is required from v6",
        );
        return;
    }
    let Some(x) = raw.and_then(Value::as_f64) else {
        let found = raw.map_or("nothing", type_name);
        r.push(
            "expire",
            rule::WRONG_TYPE,
            format!("`expire` must be a number of blocks, not {found}"),
        );
        return;
    };
    if value::check_decimals(x, "expire", "expire", 0, r).is_none() {
        return;
    }
    let min = if height < limits::EXPIRE_MIN_100_HEIGHT {
        limits::EXPIRE_MIN_ORIGINAL
    } else if height < limits::EXPIRE_MIN_1_HEIGHT {
        limits::EXPIRE_MIN_100
    } else {
        limits::EXPIRE_MIN_1
    };
    let max = if height >= limits::PON_FORK_HEIGHT {
        limits::EXPIRE_MAX
    } else {
        limits::EXPIRE_MAX_PRE_PON
    };
    if x < min as f64 || x > max as f64 {
        r.push(
            "expire",
            rule::EXPIRE_OUT_OF_RANGE,
            format!("expire is {x} blocks; it must be between {min} and {max} at block {height}"),
        );
    }
    if height < limits::EXPIRE_INTERVAL_UNTIL_HEIGHT && x % limits::EXPIRE_INTERVAL as f64 != 0.0 {
        r.push(
            "expire",
            rule::EXPIRE_NOT_MULTIPLE,
            format!(
                "expire must be a multiple of {} blocks before block {}",
                limits::EXPIRE_INTERVAL,
                limits::EXPIRE_INTERVAL_UNTIL_HEIGHT
            ),
        );
    }
}

/// An array of strings with a count limit and a per-entry length limit.
fn check_list(
    obj: &Map<String, Value>,
    key: &str,
    max_count: usize,
    max_len: usize,
    count_rule: &'static str,
    len_rule: &'static str,
    r: &mut Report,
) {
    let Some(entries) = string_array(obj, "", key, rule::MISSING_FIELD, r) else {
        return;
    };
    let count = obj.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    if count > max_count {
        r.push(
            key,
            count_rule,
            format!("{count} entries in `{key}`; at most {max_count} are allowed"),
        );
    }
    for (i, s) in entries {
        if js_len(s) > max_len {
            r.push(
                &index(key, i),
                len_rule,
                format!("entry {} is longer than {max_len} characters", quote(s)),
            );
        }
    }
}

/// v8 `enterprise` (false, "", true, or an encrypted blob), the features it gates, and
/// the optional `datacenter` flag.
fn check_enterprise(
    obj: &Map<String, Value>,
    owner: Option<&str>,
    ctx: &ValidationContext,
    facts: &AppFacts,
    r: &mut Report,
) {
    match obj.get("enterprise") {
        None | Some(Value::Null) => r.push(
            "enterprise",
            rule::MISSING_ENTERPRISE,
            "`enterprise` is required in v8 (\"\" or false for a normal app)",
        ),
        Some(Value::Bool(_) | Value::String(_)) => {}
        Some(other) => r.push(
            "enterprise",
            rule::WRONG_TYPE,
            format!(
                "`enterprise` must be a string or a boolean, not {}",
                type_name(other)
            ),
        ),
    }
    if !facts.enterprise && facts.nodes_nonempty {
        r.push(
            "nodes",
            rule::NODES_NEED_ENTERPRISE,
            "target `nodes` are only allowed for enterprise apps; use []",
        );
    }
    match obj.get("datacenter") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => {
            let listed = owner.is_some_and(|o| ctx.enterprise_owners.iter().any(|e| e == o));
            if !listed {
                r.push(
                    "datacenter",
                    rule::DATACENTER_NEEDS_ENTERPRISE_OWNER,
                    "data-centre placement is only available to enterprise app owners",
                );
            }
        }
        Some(other) => r.push(
            "datacenter",
            rule::WRONG_TYPE,
            format!(
                "`datacenter` must be true or false, not {}",
                type_name(other)
            ),
        ),
    }
}

/// A host port may be published once per app (FluxOS `ensureAppUniquePorts`).
pub(crate) fn check_unique_ports(workloads: &[Workload], r: &mut Report) {
    let mut seen: Vec<(u32, &str)> = Vec::new();
    for w in workloads {
        for (path, port) in &w.host_ports {
            if let Some((_, first)) = seen.iter().find(|(p, _)| p == port) {
                r.push(
                    path,
                    rule::DUPLICATE_PORT,
                    format!("host port {port} is already published at {first}"),
                );
            } else {
                seen.push((*port, path));
            }
        }
    }
}
