//! `fluxnode app explain NAME`: the daemon's placement explanation as a table, one row per
//! node it knows: the node (number, short id, geo, tier, score, address), whether it runs
//! an instance, and the scheduler's verdict (chosen, or why not). `--json` prints the API's
//! answer untouched.
//!
//! The answer's shape: `{app, height, instances, running: [id], nodes: {id: verdict},
//! members: {id: {geo, tier, bench_score, ip}}}`. A verdict may be a string or an object;
//! fields this renderer does not know are shown as `key=value`, and unknown top-level
//! fields as `key: value` lines, so a richer server answer still reads in full.

use serde_json::{Map, Value};

use super::remote::table;

/// Top-level fields rendered by the header and the table.
const KNOWN: [&str; 7] = [
    "app",
    "height",
    "instances",
    "running",
    "nodes",
    "members",
    "outcomes",
];

/// Characters of a node id kept after the `…` (peer ids share their first 8 characters).
const ID_TAIL: usize = 8;

pub fn render(answer: &Value) -> String {
    let empty = Map::new();
    let obj = answer.as_object().unwrap_or(&empty);
    let running: Vec<&str> = obj
        .get("running")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let nodes = obj
        .get("nodes")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let members = obj
        .get("members")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // What happened on a node: `running` from its reports, or the answering node's own
    // start outcome (starting, pull refused, …).
    let outcomes = obj
        .get("outcomes")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    let mut out = format!(
        "app {}: {} instance(s) wanted, {} running, height {}\n",
        scalar(obj.get("app")),
        scalar(obj.get("instances")),
        running.len(),
        scalar(obj.get("height")),
    );
    // Hosts first, then the others; each in id order (the API's canonical order).
    let mut ids: Vec<&String> = nodes.keys().collect();
    ids.sort_by_key(|id| (!running.contains(&id.as_str()), *id));
    let rows: Vec<Vec<String>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let m = members.get(id.as_str());
            let field = |k: &str| {
                m.and_then(|m| m.get(k))
                    .map_or("-".to_owned(), |v| scalar(Some(v)))
            };
            vec![
                (i + 1).to_string(),
                short_id(id),
                field("geo"),
                field("tier"),
                field("bench_score"),
                field("ip"),
                match outcomes.get(id.as_str()) {
                    Some(o) => scalar(Some(o)),
                    None if running.contains(&id.as_str()) => "running".to_owned(),
                    None => "-".to_owned(),
                },
                verdict(&nodes[id.as_str()]),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("no live node is known to this daemon\n");
    } else {
        out.push_str(&table(
            &[
                "#", "NODE", "GEO", "TIER", "SCORE", "ADDRESS", "OUTCOME", "VERDICT",
            ],
            &rows,
        ));
    }
    // Hosts the daemon sees running the app that are not (or no longer) live members.
    for id in running.iter().filter(|id| !nodes.contains_key(**id)) {
        out.push_str(&format!(
            "running on {} (not a live member)\n",
            short_id(id)
        ));
    }
    for (k, v) in obj.iter().filter(|(k, _)| !KNOWN.contains(&k.as_str())) {
        out.push_str(&format!("{k}: {}\n", scalar(Some(v))));
    }
    out
}

/// `12D3KooW…` peer ids shortened to their distinct tail; other names as they are.
fn short_id(id: &str) -> String {
    let n = id.chars().count();
    if n <= ID_TAIL + 4 {
        return id.to_owned();
    }
    let tail: String = id.chars().skip(n - ID_TAIL).collect();
    format!("…{tail}")
}

/// A verdict string as it is; an object as its `outcome`/`verdict`/`why` first, then the
/// remaining fields as `key=value`.
fn verdict(v: &Value) -> String {
    let Some(obj) = v.as_object() else {
        return scalar(Some(v));
    };
    let lead = ["outcome", "verdict", "why", "reason"];
    let mut parts: Vec<String> = lead
        .iter()
        .filter_map(|k| obj.get(*k))
        .map(|v| scalar(Some(v)))
        .collect();
    parts.extend(
        obj.iter()
            .filter(|(k, _)| !lead.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", scalar(Some(v)))),
    );
    parts.join(", ")
}

/// A JSON value as text: strings unquoted, numbers and others as JSON, absent as `-`.
fn scalar(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_first_with_their_geo_and_every_verdict_is_shown() {
        let a = "12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAnodeA111";
        let b = "12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBnodeB222";
        let answer = serde_json::json!({
            "app": "demo",
            "height": 3_000_123,
            "instances": 1,
            "running": [b],
            "nodes": {
                a: "ineligible: too little free RAM",
                b: {"outcome": "placed: picked in the continent pass", "health": "healthy"},
            },
            "members": {
                a: {"geo": "EU_DE_HE", "tier": "cumulus", "bench_score": 101.5, "ip": "127.0.10.1"},
                b: {"geo": "NA_US_CA", "tier": "nimbus", "bench_score": 99.0, "ip": "127.0.10.2"},
            },
            "outcomes": {a: "pull refused: manifest unknown"},
            "note": "extra field",
        });
        let text = render(&answer);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "app demo: 1 instance(s) wanted, 1 running, height 3000123"
        );
        assert!(lines[1].starts_with("#  NODE"), "{text}");
        assert!(
            lines[2].starts_with("1  …nodeB222  NA_US_CA  nimbus   99.0")
                && lines[2].contains(
                    "127.0.10.2  running                         placed: picked in the continent pass, health=healthy"
                ),
            "{text}"
        );
        assert!(
            lines[3].starts_with("2  …nodeA111  EU_DE_HE  cumulus  101.5")
                && lines[3].ends_with(
                    "127.0.10.1  pull refused: manifest unknown  ineligible: too little free RAM"
                ),
            "{text}"
        );
        assert_eq!(lines[4], "note: extra field");
    }

    #[test]
    fn an_answer_without_members_still_renders() {
        let text = render(&serde_json::json!({"app": "x", "nodes": {"n1": "eligible"}}));
        assert!(
            text.contains("1  n1    -    -     -      -        -        eligible"),
            "{text}"
        );
    }
}
