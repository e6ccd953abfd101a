//! Host ports, container ports and domains of a workload: types, ranges, the ban list,
//! and the one-container-port-and-one-domain-per-host-port rule.

use serde_json::{Map, Value};

use super::limits::*;
use super::report::{Report, index, join, quote, rule};
use super::value::{check_decimals, js_len, number, string_array, type_name};
use super::workload::{AppFacts, Shape, Workload};

/// Host ports, container ports and domains.
pub(crate) fn check_ports(
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

pub(crate) fn array_len(obj: &Map<String, Value>, key: &str) -> Option<usize> {
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
    // Stricter than FluxOS (which allows 0): port 0 cannot be published.
    if p < 1.0 || p > f64::from(CONTAINER_PORT_MAX) {
        r.push(
            path,
            rule::PORT_OUT_OF_RANGE,
            format!("container port {p} is outside 1-{CONTAINER_PORT_MAX}"),
        );
    }
}
