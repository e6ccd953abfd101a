//! `fluxnode doctor --api URL` for a node other than this host's own daemon (another
//! machine, or a testnet node in a container): everything is checked through that node's
//! API — its identity, its readiness checks, its benchmark and peers — and nothing on this
//! host (config file, Docker socket, data directory, key file) is looked at, since none of
//! it is that node's.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Check, PROBE_TIMEOUT, peers, probe_daemon};
use crate::api::NodeStatus;
use crate::api::client::ApiClient;

pub async fn checks(url: &str) -> Vec<Check> {
    let mut out = vec![Check::ok(
        "target",
        format!(
            "{url} (not this host's configured API): checked through its API only; this \
             host's config, Docker and key file are not involved"
        ),
    )];
    let (api_check, daemon) = probe_daemon(url).await;
    out.push(api_check);
    let Some(node) = daemon else {
        return out;
    };
    if let Ok(client) = ApiClient::with_timeouts(url, PROBE_TIMEOUT, PROBE_TIMEOUT) {
        out.extend(readiness(&client).await);
    }
    out.push(benchmark(&node));
    out.push(peers(&node, false));
    out.push(Check::ok(
        "key",
        format!(
            "the node runs as {} (its own key, as its API reports)",
            node.id
        ),
    ));
    out
}

/// One line per check of the node's `/readyz`.
async fn readiness(client: &ApiClient) -> Vec<Check> {
    match client.ready().await {
        Ok(ready) => ready
            .checks
            .into_iter()
            .map(|c| {
                let detail = format!("{}: {}", c.name, c.detail);
                if c.ok {
                    Check::ok("ready", detail)
                } else {
                    Check::fail(
                        "ready",
                        detail,
                        "see that node's log (`journalctl -u fluxnode`, or `scripts/testnet.sh logs N`)",
                    )
                }
            })
            .collect(),
        Err(e) => vec![Check::fail(
            "ready",
            format!("/readyz: {e}"),
            "the daemon answers /api/v1/node but not /readyz; check its version",
        )],
    }
}

/// The node's benchmark: its tier, score and age, or its absence (no capacity offered).
fn benchmark(node: &NodeStatus) -> Check {
    let Some(b) = &node.benchmark else {
        return Check::warn(
            "benchmark",
            "the node reports no benchmark, so it offers no capacity",
            "see its log for the benchmark error (`fluxnode bench` on that host runs one by hand)",
        );
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let age = b["measured_at_unix"]
        .as_u64()
        .map_or("unknown age".to_owned(), |t| {
            format!("measured {} s ago", now.saturating_sub(t))
        });
    let score = b["bench_score"].as_f64().unwrap_or(0.0);
    match b["tier"]["tier"].as_str() {
        Some(tier) => Check::ok(
            "benchmark",
            format!(
                "tier {tier} (node says {}), bench_score {score:.1}, {age}",
                node.tier
            ),
        ),
        None => Check::warn(
            "benchmark",
            format!(
                "below every tier (bench_score {score:.1}, {age}); the node offers no capacity"
            ),
            "the host needs more cores, RAM, disk or speed (see `fluxnode bench` on it)",
        ),
    }
}
