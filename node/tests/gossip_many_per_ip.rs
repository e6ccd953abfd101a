//! Sixteen real daemons on one IP (loopback, 127.0.0.201–216): every inbound connection
//! comes from 127.0.0.1, which is what many nodes behind one NAT look like. A registration
//! made through each node reaches every node within 10 s, and every node stays ready with
//! no peer ignored.
//!
//! With gossipsub's default IP-colocation penalty (−5·(k−10)² beyond 10 peers per IP) some
//! of these nodes scored all their peers below the graylist threshold and ignored them, so
//! registrations made through them never left them.

mod cluster;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster::{Cluster, web_spec, write};

const NODES: usize = 16;
/// The bound: a registration through any node reaches every node within 10 s.
const REACH_WITHIN: Duration = Duration::from_secs(10);

/// The value of the first sample of `name` in a text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(' ')))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
#[ignore = "full tier: needs Docker and 16 daemons (scripts/test.sh runs it)"]
fn sixteen_daemons_on_one_ip_all_hear_every_registration() {
    let c = Cluster::start(NODES, 200, &[]);
    c.wait_ready(Duration::from_secs(90));
    let key = c.owner_key.to_str().unwrap().to_string();
    let dir = c.owner_key.parent().unwrap().to_path_buf();

    // One app per node, registered through that node. Its geolocation (South America)
    // matches no node, so nothing is placed: this test is about the registry's gossip,
    // not Docker.
    let mut registered: BTreeMap<String, Instant> = BTreeMap::new();
    for i in 0..NODES {
        let name = format!("manyip{i}");
        let spec = web_spec(&name, 3, 31500 + i as u16, 5_000)
            .replace("\"geolocation\":[]", "\"geolocation\":[\"acSA\"]");
        assert!(spec.contains("acSA"), "{spec}");
        let path = write(&dir, &format!("{name}.json"), &spec);
        let out = c.cli(
            i,
            &["app", "register", path.to_str().unwrap(), "--key", &key],
        );
        assert!(
            out.status.success(),
            "register through node {}: {out:?}",
            i + 1
        );
        registered.insert(name, Instant::now());
    }

    // First time each (node, app) pair was seen.
    let mut seen: BTreeMap<(usize, String), Instant> = BTreeMap::new();
    let deadline = Instant::now() + REACH_WITHIN + Duration::from_secs(20);
    while seen.len() < NODES * NODES && Instant::now() < deadline {
        for (i, n) in c.nodes.iter().enumerate() {
            let Some(apps) = n.get("/api/v1/apps") else {
                continue;
            };
            let now = Instant::now();
            for a in apps.as_array().into_iter().flatten() {
                if let Some(name) = a["name"].as_str().filter(|n| registered.contains_key(*n)) {
                    seen.entry((i, name.to_string())).or_insert(now);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut worst = Duration::ZERO;
    for (name, at) in &registered {
        for i in 0..NODES {
            let Some(got) = seen.get(&(i, name.clone())) else {
                c.dump();
                panic!("{name} never reached node {}", i + 1);
            };
            worst = worst.max(got.saturating_duration_since(*at));
        }
    }
    eprintln!("slowest registration → node: {worst:?} over {NODES}×{NODES} pairs");
    assert!(
        worst <= REACH_WITHIN,
        "a registration took {worst:?} to reach a node"
    );

    // Every node is ready (gossip check included), ignores no peer and is not isolated.
    for (i, n) in c.nodes.iter().enumerate() {
        let ready = n.get("/readyz").expect("/readyz answers 200");
        assert_eq!(ready["ready"], true, "node {}: {ready}", i + 1);
        let gossip = ready["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == "gossip"))
            .unwrap_or_else(|| panic!("node {}: no gossip check in {ready}", i + 1));
        assert_eq!(gossip["ok"], true, "node {}: {gossip}", i + 1);
        let text = n.get_text("/metrics").expect("/metrics answers");
        assert_eq!(sample(&text, "fluxnode_gossip_isolated"), Some(0.0));
        assert_eq!(sample(&text, "fluxnode_gossip_ignored_peers"), Some(0.0));
        assert!(sample(&text, "fluxnode_gossip_mesh_peers").unwrap_or(0.0) >= 1.0);
    }
}
