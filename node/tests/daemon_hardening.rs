//! Real daemons: `explain` says what happened on the chosen node (here: the pull was
//! refused) instead of "placed"; a node whose host port is taken by something else on the
//! host declines, and the app runs on the node where the port is free.
//! Cluster bases 182 and 184 (127.0.0.183, 127.0.0.185–186).

mod cluster;

use std::net::TcpListener;
use std::time::Duration;

use cluster::{Cluster, web_spec};

#[test]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
fn explain_says_the_pull_was_refused() {
    let c = Cluster::start(1, 182, &["--single-node", "true"]);
    c.wait_ready(Duration::from_secs(90));
    let spec = web_spec("nopull", 1, 31831, 5_000).replace(
        "fluxnode-test/busybox:latest",
        "fluxnode-test/never-pushed:v1",
    );
    c.register(0, "nopull.json", &spec);
    let node = &c.nodes[0];
    let outcome = c.wait_for("a pull outcome in explain", Duration::from_secs(60), || {
        let v = node.get("/api/v1/apps/nopull/explain")?;
        let o = v["outcomes"]
            .as_object()?
            .values()
            .next()?
            .as_str()?
            .to_string();
        o.starts_with("pull refused").then_some(o)
    });
    eprintln!("explain outcome: {outcome}");
    assert!(outcome.contains("never-pushed"), "{outcome}");
    assert!(c.containers("nopull").is_empty());
}

#[test]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
fn a_node_with_the_port_taken_declines_and_the_other_runs_the_app() {
    let port = 31_841;
    // Something outside fluxnode holds the port on node 1's address.
    let _held = TcpListener::bind(("127.0.0.185", port)).unwrap();
    let c = Cluster::start(2, 184, &[]);
    c.wait_ready(Duration::from_secs(90));
    c.register(0, "porttaken.json", &web_spec("porttaken", 1, port, 5_000));
    let running = c.wait_for("one running container", Duration::from_secs(60), || {
        let v = c.containers("porttaken");
        (v.len() == 1).then_some(v)
    });
    assert!(running[0].0.ends_with("_t184n2"), "{running:?}");
    // And it stays there: no attempt on node 1 in the meantime.
    std::thread::sleep(Duration::from_secs(8));
    let again = c.containers("porttaken");
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(
        !c.nodes[0].log_tail().contains("port already"),
        "{}",
        c.nodes[0].log_tail()
    );
}
