//! A lying node on real daemons (issue #19). Node 3 announces 100 times its capacity
//! (`--testnet-capacity-scale 100`) and a benchmark of 100,000 (its stored report edited
//! between two runs), and cannot start any container: its app network pool is Docker's
//! default bridge subnet, so every network it creates is refused. It is ready (its engine
//! answers) and bids on everything. Apps of 2 instances must reach N on the two honest
//! nodes within 60 s of registration; the coordinators that placed an instance on the liar
//! strike it, and it wins nothing more during its hold-off.
//!
//! Cluster base 196 (127.0.0.197–199).

mod cluster;

use std::time::{Duration, Instant};

use cluster::{Cluster, web_spec};
use fluxnode::bench::BenchReport;
use fluxnode::store::{Store, Tree};

/// Nodes (1-based) running all of `app`'s containers, from their names' suffixes.
fn hosts(c: &Cluster, app: &str) -> Vec<usize> {
    let mut v: Vec<usize> = c
        .containers(app)
        .iter()
        .filter_map(|(name, _)| name.rsplit_once("_t196n").and_then(|(_, n)| n.parse().ok()))
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
#[ignore = "full tier: needs Docker, the local registry and running daemons (scripts/test.sh runs it)"]
fn a_lying_node_is_struck_and_apps_reach_n_on_the_honest_nodes() {
    let mut c = Cluster::prepare(3, 196, &[]);
    let liar = 2;
    c.nodes[liar].set_flag("--testnet-capacity-scale", "100");
    c.nodes[liar].set_flag("--docker-app-subnet-pool", "172.17.0.0/16");
    c.nodes[liar].set_flag("--docker-app-subnet-prefix", "16");
    // A first run stores the liar's benchmark; the report is then edited to 100,000.
    c.nodes[liar].spawn();
    c.wait_for("the liar's first start", Duration::from_secs(90), || {
        c.nodes[liar].get("/api/v1/node")
    });
    c.nodes[liar].terminate();
    {
        let store = Store::open(c.nodes[liar].dir.join("db")).unwrap();
        let mut report: BenchReport = store.get(Tree::Benchmarks, "latest").unwrap().unwrap();
        report.bench_score = 100_000.0;
        store.put(Tree::Benchmarks, "latest", &report).unwrap();
    }
    for n in &mut c.nodes {
        n.spawn();
    }
    c.wait_ready(Duration::from_secs(90));
    let ready = c.nodes[liar].get_status("/readyz");
    assert!(
        ready.as_ref().is_some_and(|(code, _)| *code == 200),
        "the liar must look ready: {ready:?}"
    );
    // Registers app `liar{k}` (2 instances) and waits until it runs on the honest nodes.
    let place = |k: u16| {
        let name = format!("liar{k}");
        let t = Instant::now();
        c.register(
            0,
            &format!("{name}.json"),
            &web_spec(&name, 2, 31_961 + k, 100_000),
        );
        c.wait_for(
            &format!("{name} at N on the honest nodes"),
            Duration::from_secs(60),
            || (hosts(&c, &name) == [1, 2]).then_some(()),
        );
        t.elapsed()
    };
    let times: Vec<Duration> = (0..3).map(place).collect();
    eprintln!("registration -> 2 running on the honest nodes: {times:?}");
    let won = c.metric(liar, "fluxnode_bids_won_total");
    assert!(
        won >= 1.0,
        "the liar never won: it did not lie well enough ({won})"
    );
    // The liar fails at once, before any honest instance serves; the strike follows when
    // the app's first honest instance reports healthy (a probe period after its start).
    c.wait_for(
        "an honest node strikes the liar",
        Duration::from_secs(30),
        || {
            let strikes: f64 = (0..2)
                .map(|i| c.metric(i, "fluxnode_placement_strikes_total"))
                .sum();
            (strikes >= 1.0).then_some(())
        },
    );
    // Held off: a struck liar is not called by the node that struck it. It can still win
    // (a) a round it coordinates itself, as the home of a new app — it assigns itself and
    // fails in front of its group, which re-places around it — and (b) one round of each
    // honest node that has not struck it yet. Two more apps: at most 2 + 1 more wins.
    c.wait_for(
        "an honest node holds the liar off",
        Duration::from_secs(60),
        || {
            (0..2)
                .any(|i| c.metric(i, "fluxnode_nodes_held_off") >= 1.0)
                .then_some(())
        },
    );
    let won_before = c.metric(liar, "fluxnode_bids_won_total");
    let later: Vec<Duration> = (3..5).map(place).collect();
    eprintln!("2 more apps: 2 running on the honest nodes after {later:?}");
    let won_after = c.metric(liar, "fluxnode_bids_won_total");
    eprintln!("liar bids won: {won} before the hold-off check, {won_after} after two more apps");
    assert!(
        won_after - won_before <= 3.0,
        "the liar won {} more placements while held off",
        won_after - won_before
    );
    for app in ["liar0", "liar1", "liar2", "liar3", "liar4"] {
        assert_eq!(hosts(&c, app), [1, 2], "{app}");
    }
}
