//! The reserved `FLUXNODE_HEALTHCHECK` environment entry (see [`crate::health`]): when a
//! component declares one, it must parse and name one of the component's container ports.

use serde_json::{Map, Value};

use super::report::{Report, index, join, quote, rule};

pub(crate) fn check_health(obj: &Map<String, Value>, base: &str, env_key: &str, r: &mut Report) {
    let Some(entries) = obj.get(env_key).and_then(Value::as_array) else {
        return;
    };
    let container_ports: Vec<u16> = match obj.get("containerPorts") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .filter_map(|p| u16::try_from(p).ok())
            .collect(),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    let prefix = format!("{}=", crate::health::ENV_KEY);
    let mut first: Option<usize> = None;
    for (i, e) in entries.iter().enumerate() {
        let Some(value) = e.as_str().and_then(|s| s.strip_prefix(&prefix)) else {
            continue;
        };
        let path = index(&join(base, env_key), i);
        if let Some(f) = first {
            r.push(
                &path,
                rule::HEALTHCHECK_REPEATED,
                format!(
                    "a second {} entry; the first is entry {f}",
                    crate::health::ENV_KEY
                ),
            );
            continue;
        }
        first = Some(i);
        let env = vec![format!("{prefix}{value}")];
        if let Some((_, Err(err))) = crate::health::declared(&env, &container_ports) {
            r.push(
                &path,
                rule::HEALTHCHECK_SYNTAX,
                format!("{}: {err}", quote(e.as_str().unwrap_or_default())),
            );
        }
    }
}
