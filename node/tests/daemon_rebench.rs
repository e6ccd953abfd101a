//! The periodic benchmark in a running daemon: with `--bench-period 10s` node 1 measures
//! its host again, its metric and `/api/v1/node` show the new report, and its peer
//! receives the announcement of the new score at once (announcements are otherwise due
//! only every 5 minutes). Two daemons on 127.0.0.161–162.

mod cluster;

use std::time::Duration;

use cluster::Cluster;

const LAST_RUN: &str = "fluxnode_benchmark_last_run_timestamp_seconds";
const ANNOUNCEMENTS_IN: &str = "fluxnode_messages_received_total{topic=\"announcements\"}";

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
#[ignore = "full tier: needs running daemons (scripts/test.sh runs it)"]
fn the_daemon_rebenchmarks_every_period_and_announces_the_new_score() {
    let c = Cluster::start(2, 160, &["--bench-period", "10s"]);
    c.wait_ready(Duration::from_secs(60));
    let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
    let metric = |n: &cluster::NodeProc, series: &str| {
        n.get_text("/metrics").and_then(|t| sample(&t, series))
    };

    let first = c.wait_for("the first benchmark time", Duration::from_secs(10), || {
        metric(n1, LAST_RUN).filter(|t| *t > 0.0)
    });
    let node = n1.get("/api/v1/node").unwrap();
    assert_eq!(
        node["benchmark"]["measured_at_unix"].as_f64(),
        Some(first),
        "the metric and the status show the same report"
    );
    let first_score = node["benchmark"]["bench_score"].as_f64().unwrap();
    // Let the start-up announcements settle, then note what node 2 has received.
    std::thread::sleep(Duration::from_secs(2));
    let before = metric(n2, ANNOUNCEMENTS_IN).unwrap_or(0.0);

    // Due 10 s after the first run, plus about 2 s of quick benchmark.
    let second = c.wait_for("a re-run of the benchmark", Duration::from_secs(30), || {
        metric(n1, LAST_RUN).filter(|t| *t > first)
    });
    assert!(second >= first + 10.0, "re-ran after {} s", second - first);
    let node = n1.get("/api/v1/node").unwrap();
    assert_eq!(node["benchmark"]["measured_at_unix"].as_f64(), Some(second));
    let second_score = node["benchmark"]["bench_score"].as_f64().unwrap();

    let log = std::fs::read_to_string(n1.dir.join("daemon.log")).unwrap();
    let rerun = log
        .lines()
        .find(|l| l.contains("benchmark re-run"))
        .unwrap_or_else(|| panic!("no re-run in the log:\n{}", n1.log_tail()));
    if second_score == first_score {
        // The score is rounded to 0.1: two runs can agree, and then nothing is announced.
        assert!(rerun.contains("no change"), "{rerun}");
    } else {
        // A new score goes out at once, not at the next 5-minute announcement.
        assert!(rerun.contains("announcing"), "{rerun}");
        c.wait_for(
            "node 2 to receive the announcement",
            Duration::from_secs(5),
            || metric(n2, ANNOUNCEMENTS_IN).filter(|n| *n > before),
        );
    }
}
