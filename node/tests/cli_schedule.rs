//! `fluxnode schedule` through the real binary: the JSON contract, spread, reconcile and
//! errors that name the file and field.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn spec(name: &str, instances: u32, geolocation: &[&str]) -> Value {
    json!({
        "version": 8, "name": name, "description": "demo", "owner": "1owner",
        "instances": instances, "contacts": [], "geolocation": geolocation,
        "expire": 22000, "nodes": [], "staticip": false, "enterprise": "",
        "compose": [{
            "name": "web", "description": "", "repotag": "busybox:latest", "repoauth": "",
            "ports": [31000], "containerPorts": [80], "domains": [""],
            "environmentParameters": [], "commands": [], "containerData": "/data",
            "cpu": 0.5, "ram": 500, "hdd": 5
        }]
    })
}

fn node(id: &str, geo: &str, score: f64) -> Value {
    json!({"id": id, "tier": "cumulus", "geo": geo, "cpu": 4.0, "ram": 8000, "hdd": 220,
           "used_cpu": 0.0, "used_ram": 0, "used_hdd": 0, "bench_score": score, "uptime": 0.99})
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

fn schedule(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .arg("schedule")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn nodes() -> Value {
    // Two strong nodes in DE, one each elsewhere: spread must beat raw score.
    json!([
        node("de1", "EU_DE_Hesse", 2000.0),
        node("de2", "EU_DE_Bavaria", 1900.0),
        node("fr1", "EU_FR_Normandy", 500.0),
        node("fi1", "EU_FI_Uusimaa", 400.0),
        node("us1", "NA_US_Ohio", 300.0),
        node("sg1", "AS_SG_Singapore", 200.0),
    ])
}

#[test]
fn places_spread_first_and_stops_extras() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = write(dir.path(), "nodes.json", &nodes());
    let apps = write(
        dir.path(),
        "apps.json",
        &json!([
            spec("spread", 3, &[]),
            spec("euonly", 2, &["acEU", "a!cEU_DE"])
        ]),
    );
    let (code, out, err) = schedule(&["--nodes", &nodes, "--apps", &apps, "--json"]);
    assert_eq!(code, 0, "{err}");
    let out: Value = serde_json::from_str(&out).unwrap();
    let placed = |app: &str| -> Vec<String> {
        out["placements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["app"] == app)
            .unwrap()["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    let spread = placed("spread");
    assert_eq!(spread.len(), 3);
    let continents: std::collections::BTreeSet<_> = spread
        .iter()
        .map(|n| match n.as_str() {
            "us1" => "NA",
            "sg1" => "AS",
            _ => "EU",
        })
        .collect();
    assert_eq!(
        continents.len(),
        3,
        "three continents available, three used: {spread:?}"
    );
    let eu = placed("euonly");
    assert_eq!(eu.len(), 2);
    assert!(
        eu.iter().all(|n| n == "fr1" || n == "fi1"),
        "DE denied, outside EU excluded: {eu:?}"
    );

    // Four running instances of a 3-instance app: one stops, and nothing new is placed.
    let running = write(
        dir.path(),
        "running.json",
        &json!([
        {"app": "spread", "node": "de1"}, {"app": "spread", "node": "de2"},
        {"app": "spread", "node": "us1"}, {"app": "spread", "node": "sg1"}]),
    );
    let only = write(dir.path(), "one.json", &json!([spec("spread", 3, &[])]));
    let (code, out, err) = schedule(&[
        "--nodes",
        &nodes,
        "--apps",
        &only,
        "--running",
        &running,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let out: Value = serde_json::from_str(&out).unwrap();
    let stops = out["stop"].as_array().unwrap();
    assert_eq!(stops.len(), 1, "{out}");
    assert_eq!(stops[0]["app"], "spread");
    let stopped = stops[0]["node"].as_str().unwrap();
    assert!(
        stopped == "de1" || stopped == "de2",
        "the extra is one of the two in DE: {stopped}"
    );
    assert!(out["placements"][0]["nodes"].as_array().unwrap().is_empty());
    assert!(out["unplaced"].as_array().unwrap().is_empty());
}

#[test]
fn invalid_inputs_name_file_and_field_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good_nodes = write(dir.path(), "nodes.json", &nodes());
    let good_apps = write(dir.path(), "apps.json", &json!([spec("ok", 1, &[])]));

    let mut bad = nodes();
    bad[2]["uptime"] = json!(1.5);
    let bad_nodes = write(dir.path(), "badnodes.json", &bad);
    let (code, _, err) = schedule(&["--nodes", &bad_nodes, "--apps", &good_apps]);
    assert_eq!(code, 2);
    assert!(
        err.contains("badnodes.json") && err.contains("record 2") && err.contains("uptime"),
        "{err}"
    );

    let mut bad_spec = spec("bad", 3, &[]);
    bad_spec["compose"][0]["ports"] = json!([22]);
    let bad_apps = write(
        dir.path(),
        "badapps.json",
        &json!([spec("fine", 3, &[]), bad_spec]),
    );
    let (code, _, err) = schedule(&["--nodes", &good_nodes, "--apps", &bad_apps]);
    assert_eq!(code, 2);
    assert!(
        err.contains("badapps.json: [1].compose[0].ports[0]: banned-port"),
        "{err}"
    );

    let (code, _, err) = schedule(&["--nodes", &good_nodes, "--apps", "/nonexistent/apps.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/apps.json"), "{err}");

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "[{").unwrap();
    let (code, _, err) = schedule(&["--nodes", garbage.to_str().unwrap(), "--apps", &good_apps]);
    assert_eq!(code, 2);
    assert!(err.contains("garbage.json"), "{err}");
}
