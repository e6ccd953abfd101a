//! The daemon's Prometheus metrics: one [`Metrics`] struct, registered into a registry the
//! caller owns, so several nodes in one process (tests) each read their own counters.
//!
//! Every metric is declared here, with help text and unit, even those the daemon fills in
//! later: the exported metric list is part of the operator interface and stays stable.
//! All names carry the `fluxnode_` prefix; libp2p's own metrics (registered by the network
//! service through `libp2p::metrics`) sit beside them under `libp2p_`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use std::sync::atomic::AtomicU64;

/// Label for message counters: the gossip topic's short name (`announcements`, `apps`,
/// `bids`, `assignments`, `running`) or `direct` for request-response messages.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: &'static str,
}

/// Label for rejected messages: topic as in [`TopicLabel`], and the reason from
/// `proto::encoding::ReceiveError::reason` (`stale`, `forged`, `oversized`, ...) or one of
/// the network's own (`peer_mismatch`, `unknown_topic`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    pub topic: &'static str,
    pub reason: &'static str,
}

/// Label for per-app gauges: the app's name (one series per registered app).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabel {
    pub app: String,
}

/// Label for the error counter: a short, stable kind such as `publish_queue_full`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabel {
    pub kind: &'static str,
}

/// A float gauge (benchmark figures are fractional).
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Buckets for container start: 10 ms .. ~82 s (x2 per bucket, 14 buckets). A start of a
/// cached image takes ~0.1–1 s; anything past a minute is a stuck daemon.
fn start_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// Buckets for image pulls: 100 ms .. ~27 min (x2, 15 buckets); large images over slow
/// links take many minutes.
fn pull_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 15))
}

/// Buckets for a reconcile pass: 1 ms .. ~16 s (x2, 15 buckets).
fn reconcile_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Buckets for a store flush (fsync): 100 µs .. ~3.3 s (x2, 16 buckets).
fn flush_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Every fluxnode metric. Cheap to clone: each field is a shared handle.
#[derive(Debug, Clone)]
pub struct Metrics {
    // Network (filled by `crate::network`).
    /// Peers with at least one open connection.
    pub peers: Gauge,
    /// Messages accepted and delivered to the daemon, by topic.
    pub messages_received: Family<TopicLabel, Counter>,
    /// Messages this node published or sent, by topic.
    pub messages_published: Family<TopicLabel, Counter>,
    /// Messages dropped by validation, by topic and reason.
    pub messages_rejected: Family<RejectLabels, Counter>,
    /// Peers in this node's gossip mesh (any topic).
    pub gossip_mesh_peers: Gauge,
    /// Connected gossip peers this node scores below the graylist threshold.
    pub gossip_ignored_peers: Gauge,
    /// 1 while gossip is isolated (see `network::health`), else 0.
    pub gossip_isolated: Gauge,

    // Placement market (filled by the protocol driver).
    pub bids_placed: Counter,
    pub bids_won: Counter,
    pub bids_lost: Counter,
    /// Capacity reservations held for open bids.
    pub reservations_open: Gauge,
    /// Ledger summaries received that matched this node's ledger.
    pub ledger_in_sync: Counter,
    /// Owner actions sent to peers whose ledger summary differed.
    pub ledger_sync_actions: Counter,
    /// Apps this node should run (won and unexpired).
    pub apps_desired: Gauge,
    /// Apps whose containers all run.
    pub apps_running: Gauge,
    /// Per registered app: the spec's `instances`.
    pub app_instances_desired: Family<AppLabel, Gauge>,
    /// Per registered app: running instances as this node sees them (its group's live
    /// members when it hosts the app, else running reports of connected peers).
    pub app_instances_running: Family<AppLabel, Gauge>,
    /// Per registered app: instances reported healthy by their hosts' probes.
    pub app_instances_healthy: Family<AppLabel, Gauge>,
    /// Health probes of this node's instances that failed.
    pub health_probe_failures: Counter,
    /// Instances this node gave up (unhealthy after restarts, crash loop, failed restart).
    pub instances_given_up: Counter,
    /// Moves of this node's instances to another spec version (rolling-update steps and
    /// reverts).
    pub instance_moves: Counter,
    /// Rollouts this node saw reverted (announced by it or by a peer of the app's group).
    pub rollouts_reverted: Counter,
    /// Rollouts this node coordinates now.
    pub rollouts_in_progress: Gauge,
    /// Strikes this node gave other nodes: placements that never served while the app
    /// served elsewhere (the struck node is not called for bids for its hold-off).
    pub placement_strikes: Counter,
    /// Nodes this node does not call for bids now (struck, within their hold-off).
    pub nodes_held_off: Gauge,
    /// 1 while the Docker engine answers its ping within the timeout, else 0.
    pub docker_engine_up: Gauge,

    // Runtime.
    pub container_start_duration: Histogram,
    pub image_pull_duration: Histogram,
    pub container_restarts: Counter,
    pub reconcile_duration: Histogram,

    // Benchmark figures (from the last `bench` run).
    pub benchmark_cpu_events: FloatGauge,
    pub benchmark_ram_bandwidth: FloatGauge,
    pub benchmark_disk_write: FloatGauge,
    /// Unix time the benchmark in use was measured (a cached report keeps its own time).
    pub benchmark_last_run: Gauge,

    // Store and lifecycle.
    pub store_flush_duration: Histogram,
    /// Apps whose subscription passed `expiry + grace`.
    pub apps_expired: Counter,
    /// App instances removed from this node (expiry, cancel, or reconcile stop).
    pub app_removals: Counter,

    /// Errors by kind, for alerting.
    pub errors: Family<ErrorLabel, Counter>,
}

impl Metrics {
    /// Creates every metric and registers it under the `fluxnode_` prefix in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            peers: Gauge::default(),
            messages_received: Family::default(),
            messages_published: Family::default(),
            messages_rejected: Family::default(),
            gossip_mesh_peers: Gauge::default(),
            gossip_ignored_peers: Gauge::default(),
            gossip_isolated: Gauge::default(),
            bids_placed: Counter::default(),
            bids_won: Counter::default(),
            bids_lost: Counter::default(),
            reservations_open: Gauge::default(),
            ledger_in_sync: Counter::default(),
            ledger_sync_actions: Counter::default(),
            apps_desired: Gauge::default(),
            apps_running: Gauge::default(),
            app_instances_desired: Family::default(),
            app_instances_running: Family::default(),
            app_instances_healthy: Family::default(),
            health_probe_failures: Counter::default(),
            instances_given_up: Counter::default(),
            instance_moves: Counter::default(),
            rollouts_reverted: Counter::default(),
            rollouts_in_progress: Gauge::default(),
            placement_strikes: Counter::default(),
            nodes_held_off: Gauge::default(),
            docker_engine_up: Gauge::default(),
            container_start_duration: start_buckets(),
            image_pull_duration: pull_buckets(),
            container_restarts: Counter::default(),
            reconcile_duration: reconcile_buckets(),
            benchmark_cpu_events: FloatGauge::default(),
            benchmark_ram_bandwidth: FloatGauge::default(),
            benchmark_disk_write: FloatGauge::default(),
            benchmark_last_run: Gauge::default(),
            store_flush_duration: flush_buckets(),
            apps_expired: Counter::default(),
            app_removals: Counter::default(),
            errors: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("fluxnode");
        r.register(
            "peers",
            "Peers with at least one open libp2p connection",
            m.peers.clone(),
        );
        r.register(
            "messages_received",
            "Messages that passed validation and were delivered to the daemon, by topic (direct = request-response)",
            m.messages_received.clone(),
        );
        r.register(
            "messages_published",
            "Messages this node published on gossip or sent directly, by topic",
            m.messages_published.clone(),
        );
        r.register(
            "messages_rejected",
            "Messages dropped by validation before delivery or forwarding, by topic and reason",
            m.messages_rejected.clone(),
        );
        r.register(
            "gossip_mesh_peers",
            "Peers in this node's gossipsub mesh on any fluxnode topic",
            m.gossip_mesh_peers.clone(),
        );
        r.register(
            "gossip_ignored_peers",
            "Connected gossip peers this node scores below the graylist threshold (their messages are ignored)",
            m.gossip_ignored_peers.clone(),
        );
        r.register(
            "gossip_isolated",
            "1 while this node's gossip reaches no peer or it ignores every peer (not ready), else 0",
            m.gossip_isolated.clone(),
        );
        r.register("bids_placed", "Bids this node sent", m.bids_placed.clone());
        r.register(
            "ledger_in_sync",
            "Ledger summaries from peers that matched this node's app ledger",
            m.ledger_in_sync.clone(),
        );
        r.register(
            "ledger_sync_actions",
            "Owner actions sent to peers whose ledger summary differed (anti-entropy)",
            m.ledger_sync_actions.clone(),
        );
        r.register(
            "bids_won",
            "Bids that ended in an assignment to this node",
            m.bids_won.clone(),
        );
        r.register(
            "bids_lost",
            "Bids whose round ended without this node among the winners",
            m.bids_lost.clone(),
        );
        r.register(
            "reservations_open",
            "Capacity reservations held for bids whose round has not ended",
            m.reservations_open.clone(),
        );
        r.register(
            "apps_desired",
            "Apps assigned to this node and not expired",
            m.apps_desired.clone(),
        );
        r.register(
            "apps_running",
            "Apps whose containers all run on this node",
            m.apps_running.clone(),
        );
        r.register(
            "app_instances_desired",
            "Instances each registered, unexpired app asks for (its spec's `instances`)",
            m.app_instances_desired.clone(),
        );
        r.register(
            "app_instances_running",
            "Running instances of each app as this node sees them: live group members (by heartbeat) where it hosts the app, else running reports of connected peers",
            m.app_instances_running.clone(),
        );
        r.register(
            "app_instances_healthy",
            "Instances of each app whose host reports them healthy (its probes pass), as this node sees them",
            m.app_instances_healthy.clone(),
        );
        r.register(
            "health_probe_failures",
            "Health probes of this node's instances that failed (HTTP, TCP or the image's HEALTHCHECK)",
            m.health_probe_failures.clone(),
        );
        r.register(
            "instances_given_up",
            "Instances this node gave up for the network to re-place: unhealthy after restarts, crash loop, or a failed restart",
            m.instances_given_up.clone(),
        );
        r.register(
            "instance_moves",
            "Moves of this node's app instances to another spec version: rolling-update steps and reverts",
            m.instance_moves.clone(),
        );
        r.register(
            "rollouts_reverted",
            "Rolling updates this node saw reverted (a moved instance failed or was not healthy within the deadline)",
            m.rollouts_reverted.clone(),
        );
        r.register(
            "rollouts_in_progress",
            "Rolling updates this node coordinates now",
            m.rollouts_in_progress.clone(),
        );
        r.register(
            "placement_strikes",
            "Strikes this node gave other nodes: a placement it assigned that never served while the app served elsewhere; the struck node is not called for bids until its hold-off ends",
            m.placement_strikes.clone(),
        );
        r.register(
            "nodes_held_off",
            "Nodes this node does not call for bids now: struck for placements that never served, within their hold-off",
            m.nodes_held_off.clone(),
        );
        r.register(
            "docker_engine_up",
            "1 while the Docker engine answers its ping within the timeout, else 0 (the node does not bid meanwhile)",
            m.docker_engine_up.clone(),
        );
        r.register_with_unit(
            "container_start_duration",
            "Time from container create to running",
            Unit::Seconds,
            m.container_start_duration.clone(),
        );
        r.register_with_unit(
            "image_pull_duration",
            "Time to pull one image",
            Unit::Seconds,
            m.image_pull_duration.clone(),
        );
        r.register(
            "container_restarts",
            "Containers restarted by the supervisor after they exited",
            m.container_restarts.clone(),
        );
        r.register_with_unit(
            "reconcile_duration",
            "Time of one reconcile pass (desired vs running)",
            Unit::Seconds,
            m.reconcile_duration.clone(),
        );
        r.register(
            "benchmark_cpu_events_per_second",
            "CPU benchmark result of the last host benchmark (sysbench-compatible events per second)",
            m.benchmark_cpu_events.clone(),
        );
        r.register(
            "benchmark_ram_bandwidth_bytes_per_second",
            "RAM copy bandwidth of the last host benchmark",
            m.benchmark_ram_bandwidth.clone(),
        );
        r.register(
            "benchmark_disk_write_bytes_per_second",
            "Sequential disk write speed of the last host benchmark",
            m.benchmark_disk_write.clone(),
        );
        r.register_with_unit(
            "benchmark_last_run_timestamp",
            "Unix time the host benchmark in use was measured; it moves every bench.period",
            Unit::Seconds,
            m.benchmark_last_run.clone(),
        );
        r.register_with_unit(
            "store_flush_duration",
            "Time to flush the state store to disk",
            Unit::Seconds,
            m.store_flush_duration.clone(),
        );
        r.register(
            "apps_expired",
            "Apps whose subscription passed expiry plus grace on this node",
            m.apps_expired.clone(),
        );
        r.register(
            "app_removals",
            "App instances removed from this node (expiry, cancel or reconcile stop)",
            m.app_removals.clone(),
        );
        r.register(
            "errors",
            "Errors by kind (e.g. publish_queue_full, publish_expired, docker, store)",
            m.errors.clone(),
        );
        m
    }

    /// Counts one rejected message.
    pub fn rejected(&self, topic: &'static str, reason: &'static str) {
        self.messages_rejected
            .get_or_create(&RejectLabels { topic, reason })
            .inc();
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: &'static str) {
        self.errors.get_or_create(&ErrorLabel { kind }).inc();
    }
}

/// Content type of [`encode_text`]'s output, for the `GET /metrics` response.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The registry in OpenMetrics text format (prometheus-client's native output).
pub fn encode_openmetrics(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// The registry in the Prometheus text format 0.0.4 (what `GET /metrics` serves, and what
/// `promtool check metrics` and every Prometheus version parse).
///
/// prometheus-client writes OpenMetrics, which differs in three ways that matter to
/// Prometheus-format parsers: a counter family is named without its `_total` suffix in
/// `# HELP`/`# TYPE` while its samples carry it; `info` families and `# UNIT` lines do not
/// exist in the older format; and the output ends with `# EOF`. This rewrites exactly those.
pub fn encode_text(registry: &Registry) -> Result<String, std::fmt::Error> {
    Ok(openmetrics_to_prometheus(&encode_openmetrics(registry)?))
}

fn openmetrics_to_prometheus(open: &str) -> String {
    let mut out = String::with_capacity(open.len());
    // `# HELP` precedes `# TYPE` for the same family; hold it until the type is known.
    let mut help: Option<(&str, &str)> = None;
    for line in open.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "unknown" => (name.to_string(), "untyped"),
                other => (name.to_string(), other),
            };
            if let Some((_, text)) = help.take() {
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
