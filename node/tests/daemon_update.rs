//! Rolling updates with real daemons across restarts: a reverted update stays reverted
//! when every node restarts (an operator upgrading fluxnode everywhere). A node that
//! forgot the revert would take the failed version for the target again and, as its
//! group's coordinator, roll it out a second time: containers replaced, one instance down
//! until the deadline reverts it once more.

mod cluster;

use std::time::Duration;

use cluster::{Cluster, web_spec, write};

const APP: &str = "twice";

/// The app as node `i` sees it.
fn app_on(c: &Cluster, i: usize) -> Option<serde_json::Value> {
    c.nodes[i].get(&format!("/api/v1/apps/{APP}"))
}

/// Every instance healthy and on `version`, as node `i` sees it.
fn all_healthy_on(app: &serde_json::Value, instances: usize, version: u64) -> bool {
    let health = app["instance_health"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    health.len() == instances
        && health
            .iter()
            .all(|h| h["health"] == "healthy" && h["version"].as_u64() == Some(version))
}

#[test]
#[ignore = "full tier: needs Docker and running daemons (scripts/test.sh runs it)"]
fn a_reverted_update_stays_reverted_when_every_node_restarts() {
    // Short rollout times (the defaults are 10 s and 5 min) keep the test near two minutes.
    let mut c = Cluster::start(
        3,
        140,
        &["--rollout-min-healthy", "3s", "--rollout-deadline", "15s"],
    );
    c.wait_ready(Duration::from_secs(90));
    let dir = c.owner_key.parent().unwrap().to_path_buf();
    let key = c.owner_key.to_str().unwrap().to_string();
    let good_spec = web_spec(APP, 2, 31561, 5_000);
    let spec = write(&dir, "good.json", &good_spec);
    let out = c.cli(
        0,
        &["app", "register", spec.to_str().unwrap(), "--key", &key],
    );
    assert!(out.status.success(), "{out:?}");
    let good = c.wait_for("2 healthy instances", Duration::from_secs(90), || {
        let a = app_on(&c, 0)?;
        let v = a["version"].as_u64()?;
        all_healthy_on(&a, 2, v).then_some(v)
    });

    // The update runs but never listens on its container port: never healthy.
    let mut bad: serde_json::Value = serde_json::from_str(&good_spec).unwrap();
    bad["compose"][0]["commands"] = serde_json::json!(["sleep", "3600"]);
    let spec = write(&dir, "bad.json", &bad.to_string());
    let out = c.cli(0, &["app", "update", spec.to_str().unwrap(), "--key", &key]);
    assert!(out.status.success(), "{out:?}");
    c.wait_for("the update reverted", Duration::from_secs(120), || {
        let a = app_on(&c, 0)?;
        (a["rollout"]["state"] == "reverted"
            && a["version"].as_u64() != Some(good)
            && a["target_version"].as_u64() == Some(good)
            && all_healthy_on(&a, 2, good))
        .then_some(())
    });
    let before = c.containers(APP);
    assert_eq!(before.len(), 2, "{before:?}");

    // Every node stops (planned restarts keep the containers) and comes back.
    for n in &mut c.nodes {
        assert_eq!(n.terminate(), Some(0), "{}", n.log_tail());
    }
    for n in &mut c.nodes {
        n.spawn();
    }
    for i in 0..c.nodes.len() {
        c.wait_for(
            &format!("node {} back, still reverted", i + 1),
            Duration::from_secs(60),
            || {
                let a = app_on(&c, i)?;
                (a["rollout"]["state"] == "reverted" && a["target_version"].as_u64() == Some(good))
                    .then_some(())
            },
        );
    }
    c.wait_for(
        "2 healthy on the good version",
        Duration::from_secs(60),
        || all_healthy_on(&app_on(&c, 0)?, 2, good).then_some(()),
    );

    // Longer than a move and the deadline: nothing is moved to the failed version again
    // (a move replaces the containers).
    std::thread::sleep(Duration::from_secs(25));
    assert_eq!(
        c.containers(APP),
        before,
        "containers replaced after the restart: the failed version was rolled out again"
    );
    for i in 0..c.nodes.len() {
        let a = app_on(&c, i).expect("app known");
        assert!(all_healthy_on(&a, 2, good), "node {}: {a}", i + 1);
    }
}
