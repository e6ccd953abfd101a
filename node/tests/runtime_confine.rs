//! App containers on the real engine are confined: a pids limit that stops a fork bomb,
//! `no-new-privileges`, the dropped capabilities, and swap no larger than memory.

mod common;

use std::time::Duration;

use common::*;
use fluxnode::runtime::{AppPlan, Runtime};
use fluxnode::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn a_fork_bomb_stops_at_the_pids_limit_and_privileges_are_dropped() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let app = unique("bomb");
    // Forks `sleep` children, printing how many, until fork fails (fatal for busybox sh).
    let mut bomb = component(
        "bomb",
        &base_image(),
        &[
            "sh",
            "-c",
            "n=0; while true; do sleep 1000 & n=$((n+1)); echo $n; done",
        ],
    );
    bomb.ram_mb = 256;
    bomb.cpu = 0.5;
    let plan = AppPlan {
        app: app.clone(),
        spec_hash: "h".into(),
        components: vec![bomb],
    };
    rt.start_app(plan).await.unwrap();
    let name = format!("fluxbomb_{app}");

    let h = inspect(&name)["HostConfig"].clone();
    assert_eq!(h["PidsLimit"], 512, "{h}");
    assert_eq!(h["Memory"], h["MemorySwap"], "{h}");
    assert_eq!(
        h["SecurityOpt"],
        serde_json::json!(["no-new-privileges"]),
        "{h}"
    );
    let dropped: Vec<&str> = h["CapDrop"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for cap in ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP"] {
        assert!(
            dropped.iter().any(|d| d.trim_start_matches("CAP_") == cap),
            "{cap} not dropped: {dropped:?}"
        );
    }
    assert_eq!(h["Privileged"], false);

    // The bomb stops at the limit: `sh` itself plus 511 children.
    let start = std::time::Instant::now();
    let logs = loop {
        let (_, logs) = docker(&["logs", &name]);
        if logs.contains("can't fork") {
            break logs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the bomb never hit a limit: {}",
            logs.lines().last().unwrap_or("")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let peak = logs
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    eprintln!("fork bomb stopped after {peak} children (pids limit 512)");
    assert!((500..=511).contains(&peak), "{peak} children");
    rt.remove_app(&app).await.unwrap();
}
