//! One daemon hosts 200 small single-instance apps, each on its own network with its own
//! /24 from the app subnet pool: registered through the API, placed by the protocol on the
//! only node, started on the real engine. The node offers 24× its measured size
//! (`--testnet-capacity-scale`, testnet only): 200 of the smallest Flux apps (0.1 core,
//! 100 MB, 1 GB each) need 20 cores, and this machine has 2.

mod cluster;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cluster::{Cluster, write};

const APPS: usize = 200;
/// A pool of this test's own (private, routed nowhere here), so tests using the default
/// 172.23.0.0/16 on the same engine are not starved.
const POOL: &str = "10.226.0.0/16";

/// A Flux v8 spec: one busybox component that sleeps, no ports, the smallest resources.
fn small_spec(name: &str) -> String {
    let registry =
        std::env::var("FLUXNODE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    serde_json::json!({
        "version": 8,
        "name": name,
        "description": "fluxnode many-apps test app",
        "owner": "0x0c894752ba986f3f6f081eeb05c1c4a482fe8717",
        "compose": [{
            "name": "main",
            "description": "sleeps",
            "repotag": format!("{registry}/fluxnode-test/busybox:latest"),
            "ports": [],
            "domains": [],
            "environmentParameters": [],
            "commands": ["sleep", "86400"],
            "containerPorts": [],
            "containerData": "/data",
            "cpu": 0.1,
            "ram": 100,
            "hdd": 1,
            "repoauth": ""
        }],
        "instances": 1,
        "contacts": [],
        "geolocation": [],
        "expire": 5000,
        "nodes": [],
        "staticip": false,
        "enterprise": ""
    })
    .to_string()
}

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "full tier: needs Docker, the local registry and a daemon hosting 200 containers (scripts/test.sh runs it)"]
fn one_daemon_hosts_two_hundred_apps_each_on_its_own_network() {
    let c = Cluster::start(
        1,
        230,
        &[
            "--single-node",
            "true",
            "--testnet-capacity-scale",
            "24",
            "--docker-app-subnet-pool",
            POOL,
        ],
    );
    c.wait_ready(Duration::from_secs(60));
    let dir = c.owner_key.parent().unwrap().to_path_buf();
    let key = c.owner_key.to_str().unwrap().to_string();
    let names: Vec<String> = (0..APPS).map(|i| format!("many{i:03}")).collect();
    let t0 = Instant::now();
    for name in &names {
        let spec = write(&dir, &format!("{name}.json"), &small_spec(name));
        let out = c.cli(
            0,
            &["app", "register", spec.to_str().unwrap(), "--key", &key],
        );
        assert!(out.status.success(), "register {name}: {out:?}");
    }
    let registered = t0.elapsed();

    // Every app runs: one container each, on this node.
    let filter = format!("label=io.fluxnode.testrun={}", c.run_label);
    let running = || -> BTreeSet<String> {
        docker(&[
            "ps",
            "--filter",
            &filter,
            "--format",
            "{{.Label \"io.fluxnode.app\"}}",
        ])
        .lines()
        .map(str::to_string)
        .collect()
    };
    c.wait_for("200 apps running", Duration::from_secs(900), || {
        (running().len() == APPS).then_some(())
    });
    let all_running = t0.elapsed();
    eprintln!("{APPS} apps registered in {registered:?}, all running after {all_running:?}");
    let ids: Vec<String> = docker(&["ps", "-q", "--filter", &filter])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), APPS, "one container per app");

    // Each on a network of its own, each network on a distinct /24 of the pool.
    let mut args = vec!["inspect"];
    args.extend(ids.iter().map(String::as_str));
    let containers: Vec<serde_json::Value> = serde_json::from_str(&docker(&args)).unwrap();
    let networks: BTreeSet<String> = containers
        .iter()
        .map(|c| {
            c["HostConfig"]["NetworkMode"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(networks.len(), APPS, "a network per app: {networks:?}");
    let mut args = vec!["network", "inspect"];
    args.extend(networks.iter().map(String::as_str));
    let nets: Vec<serde_json::Value> = serde_json::from_str(&docker(&args)).unwrap();
    let subnets: BTreeSet<String> = nets
        .iter()
        .map(|n| {
            let s = n["IPAM"]["Config"][0]["Subnet"]
                .as_str()
                .unwrap_or_default();
            assert!(
                s.starts_with("10.226.") && s.ends_with(".0/24"),
                "{}: {s}",
                n["Name"]
            );
            s.to_string()
        })
        .collect();
    assert_eq!(subnets.len(), APPS, "every app on a /24 of its own");

    // The node's API agrees: it hosts all 200, each app says 1 running.
    let node = c.nodes[0].get("/api/v1/node").unwrap();
    let hosted = node["hosted"].as_array().map_or(0, Vec::len);
    assert_eq!(hosted, APPS, "hosted: {}", node["hosted"]);
    let apps = c.nodes[0].get("/api/v1/apps").unwrap();
    let at_one = apps
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["running"] == 1)
        .count();
    assert_eq!(at_one, APPS);

    // Cleaning up: the cluster's drop stops the daemon and removes every container,
    // network and volume of this run.
    drop(c);
    for what in [["ps", "-aq"], ["network", "ls"]] {
        let mut args = what.to_vec();
        args.extend(["-q", "--filter", filter.as_str()]);
        let left = docker(&args);
        assert!(left.trim().is_empty(), "left behind by {what:?}: {left}");
    }
}
