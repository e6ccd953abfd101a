use super::*;

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text`; `None` when promtool is not installed.
pub(crate) fn promtool_check(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), report))
}

/// Sets every metric to a non-default value, so the exposition holds each family.
fn exercise(m: &Metrics) {
    m.peers.set(3);
    m.messages_received
        .get_or_create(&TopicLabel {
            topic: "announcements",
        })
        .inc();
    m.messages_published
        .get_or_create(&TopicLabel { topic: "direct" })
        .inc();
    m.rejected("announcements", "stale");
    m.bids_placed.inc();
    m.bids_won.inc();
    m.bids_lost.inc();
    m.reservations_open.set(1);
    m.apps_desired.set(2);
    m.apps_running.set(2);
    m.container_start_duration.observe(0.4);
    m.image_pull_duration.observe(12.0);
    m.container_restarts.inc();
    m.reconcile_duration.observe(0.003);
    m.benchmark_cpu_events.set(1234.5);
    m.benchmark_ram_bandwidth.set(9.5e9);
    m.benchmark_disk_write.set(4.0e8);
    m.store_flush_duration.observe(0.002);
    m.apps_expired.inc();
    m.app_removals.inc();
    m.error("publish_queue_full");
}

#[test]
fn every_metric_is_exported_with_prefix_help_and_type() {
    let mut registry = Registry::default();
    let m = Metrics::register(&mut registry);
    exercise(&m);
    let text = encode_text(&registry).unwrap();
    for (name, kind) in [
        ("fluxnode_peers", "gauge"),
        ("fluxnode_messages_received_total", "counter"),
        ("fluxnode_messages_published_total", "counter"),
        ("fluxnode_messages_rejected_total", "counter"),
        ("fluxnode_bids_placed_total", "counter"),
        ("fluxnode_bids_won_total", "counter"),
        ("fluxnode_bids_lost_total", "counter"),
        ("fluxnode_reservations_open", "gauge"),
        ("fluxnode_apps_desired", "gauge"),
        ("fluxnode_apps_running", "gauge"),
        ("fluxnode_container_start_duration_seconds", "histogram"),
        ("fluxnode_image_pull_duration_seconds", "histogram"),
        ("fluxnode_container_restarts_total", "counter"),
        ("fluxnode_reconcile_duration_seconds", "histogram"),
        ("fluxnode_benchmark_cpu_events_per_second", "gauge"),
        ("fluxnode_benchmark_ram_bandwidth_bytes_per_second", "gauge"),
        ("fluxnode_benchmark_disk_write_bytes_per_second", "gauge"),
        ("fluxnode_store_flush_duration_seconds", "histogram"),
        ("fluxnode_apps_expired_total", "counter"),
        ("fluxnode_app_removals_total", "counter"),
        ("fluxnode_errors_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} ({kind}) missing from:\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no help"
        );
    }
    assert!(
        text.contains(
            "fluxnode_messages_rejected_total{topic=\"announcements\",reason=\"stale\"} 1\n"
        ),
        "{text}"
    );
    assert!(text.contains("fluxnode_benchmark_cpu_events_per_second 1234.5\n"));
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
}

#[test]
#[ignore = "full tier: needs promtool (scripts/test.sh runs it)"]
fn exposition_with_libp2p_metrics_passes_promtool() {
    let mut registry = Registry::default();
    let m = Metrics::register(&mut registry);
    let _libp2p = libp2p::metrics::Metrics::new(&mut registry);
    exercise(&m);
    let text = encode_text(&registry).unwrap();
    match promtool_check(&text) {
        Some((ok, report)) => assert!(ok, "promtool check metrics failed:\n{report}\n{text}"),
        None => panic!(
            "promtool not found on PATH: install Debian's `prometheus` package \
             (scripts/test.sh does) so the exposition can be checked"
        ),
    }
}

#[test]
fn openmetrics_families_are_renamed_for_the_prometheus_format() {
    let open = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total 2\n\
                # HELP a_build Build.\n# TYPE a_build info\na_build_info{v=\"1\"} 1\n\
                # HELP a_size Size.\n# TYPE a_size gauge\n# UNIT a_size bytes\na_size 3\n# EOF\n";
    assert_eq!(
        openmetrics_to_prometheus(open),
        "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total 2\n\
         # HELP a_build_info Build.\n# TYPE a_build_info gauge\na_build_info{v=\"1\"} 1\n\
         # HELP a_size Size.\n# TYPE a_size gauge\na_size 3\n"
    );
}
