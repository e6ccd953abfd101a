//! Crash safety of a real daemon: `kill -9` a node hosting two apps while registrations
//! stream into its API, restart it, and check that its containers keep their ids, every
//! registration it acknowledged is still known, and no app gains an instance.

mod cluster;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster::{Cluster, web_spec, write};

/// A registration that validates but can never be placed (no node in South America), so a
/// burst of them costs no containers.
/// Each app its own host port: the ledger refuses a host port another live app holds.
fn unplaceable_spec(name: &str, port: u16) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&web_spec(name, 1, port, 5_000)).unwrap();
    v["geolocation"] = serde_json::json!(["acSA"]);
    v.to_string()
}

/// Registrations sent in the burst: far more than are answered before the kill.
const BURST: usize = 100;

#[test]
#[ignore = "full tier: needs Docker and running daemons (scripts/test.sh runs it)"]
fn kill_9_during_a_registration_burst_loses_nothing() {
    let mut c = Cluster::start(3, 50, &[]);
    c.wait_ready(Duration::from_secs(90));
    let dir = c.owner_key.parent().unwrap().to_path_buf();
    let key = c.owner_key.to_str().unwrap().to_string();

    for (app, port) in [("crasha", 31501u16), ("crashb", 31502)] {
        let spec = write(&dir, &format!("{app}.json"), &web_spec(app, 3, port, 5_000));
        let out = c.cli(
            0,
            &["app", "register", spec.to_str().unwrap(), "--key", &key],
        );
        assert!(out.status.success(), "{out:?}");
    }
    let victim_suffix = "_t50n3";
    let before: BTreeMap<String, String> =
        c.wait_for("2 apps × 3 instances", Duration::from_secs(60), || {
            let a = c.containers("crasha");
            let b = c.containers("crashb");
            (a.len() == 3 && b.len() == 3).then(|| {
                a.into_iter()
                    .chain(b)
                    .filter(|(n, _)| n.ends_with(victim_suffix))
                    .collect()
            })
        });
    assert_eq!(before.len(), 2, "node 3 hosts both apps: {before:?}");

    // The burst: registrations through node 3's API, one CLI process each, while node 3
    // is killed part-way.
    let specs: Vec<(String, std::path::PathBuf)> = (0..BURST)
        .map(|i| {
            let name = format!("burst{i}");
            let p = write(
                &dir,
                &format!("{name}.json"),
                &unplaceable_spec(&name, 32_000 + i as u16),
            );
            (name, p)
        })
        .collect();
    let api = c.nodes[2].api_url();
    let bin = cluster::BIN.to_string();
    let key2 = key.clone();
    let (fifth, fifth_rx) = std::sync::mpsc::channel();
    let burst = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for (name, path) in specs {
            if acked.len() == 5 {
                let _ = fifth.send(());
            }
            let out = std::process::Command::new(&bin)
                .args([
                    "app",
                    "register",
                    path.to_str().unwrap(),
                    "--key",
                    &key2,
                    "--api",
                    &api,
                ])
                .output()
                .unwrap();
            if out.status.success() {
                acked.push(name);
            }
        }
        acked
    });
    // Kill as soon as five registrations were acknowledged, with the burst still going.
    fifth_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("five registrations acknowledged");
    c.nodes[2].kill9();
    let acked = burst.join().unwrap();
    assert!(acked.len() >= 5, "acknowledged before the kill: {acked:?}");
    assert!(
        acked.len() < BURST,
        "the kill interrupted nothing ({} acknowledged); the test proves nothing",
        acked.len()
    );

    c.nodes[2].spawn();
    c.wait_for("node 3 back", Duration::from_secs(60), || {
        c.nodes[2].get("/api/v1/node").map(|_| ())
    });

    // Every acknowledged registration survived the crash.
    for name in &acked {
        assert!(
            c.nodes[2].get(&format!("/api/v1/apps/{name}")).is_some(),
            "registration of {name} was acknowledged but is lost"
        );
    }
    // Same containers, adopted, and no app gains an instance.
    let after: BTreeMap<String, String> = c
        .containers("crasha")
        .into_iter()
        .chain(c.containers("crashb"))
        .filter(|(n, _)| n.ends_with(victim_suffix))
        .collect();
    assert_eq!(after, before, "container ids changed across the restart");
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(c.containers("crasha").len(), 3);
    assert_eq!(c.containers("crashb").len(), 3);
    let node = c.nodes[2].get("/api/v1/node").unwrap();
    let hosted = node["hosted"].as_array().unwrap();
    assert_eq!(hosted.len(), 2, "node 3 adopted both apps: {node}");
}

#[test]
#[ignore = "full tier: needs Docker and running daemons (scripts/test.sh runs it)"]
fn sigterm_exits_0_leaves_containers_and_the_restart_adopts_them() {
    let mut c = Cluster::start(3, 55, &[]);
    c.wait_ready(Duration::from_secs(90));
    let dir = c.owner_key.parent().unwrap().to_path_buf();
    let key = c.owner_key.to_str().unwrap().to_string();
    let spec = write(&dir, "solo.json", &web_spec("solo", 1, 31551, 5_000));
    let out = c.cli(
        0,
        &["app", "register", spec.to_str().unwrap(), "--key", &key],
    );
    assert!(out.status.success(), "{out:?}");
    let before = c.wait_for("one instance", Duration::from_secs(60), || {
        let v = c.containers("solo");
        (v.len() == 1).then_some(v)
    });
    let host = c
        .nodes
        .iter()
        .position(|n| {
            before[0].0.ends_with(&format!(
                "n{}",
                n.ip.rsplit('.').next().unwrap().parse::<usize>().unwrap() - 55
            ))
        })
        .expect("host node found by name suffix");

    // SIGTERM: exit 0 with the container left running.
    assert_eq!(
        c.nodes[host].terminate(),
        Some(0),
        "{}",
        c.nodes[host].log_tail()
    );
    assert_eq!(
        c.containers("solo"),
        before,
        "container kept across the stop"
    );

    // Down for longer than group failure detection (20 s): no second instance appears
    // while the node is away on a planned restart.
    std::thread::sleep(Duration::from_secs(25));
    assert_eq!(
        c.containers("solo"),
        before,
        "replaced during a planned restart"
    );

    c.nodes[host].spawn();
    c.wait_for("host back and hosting", Duration::from_secs(60), || {
        let n = c.nodes[host].get("/api/v1/node")?;
        (n["hosted"].as_array()?.len() == 1).then_some(())
    });
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        c.containers("solo"),
        before,
        "same container after the restart"
    );
}
