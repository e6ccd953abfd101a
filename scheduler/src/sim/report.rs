//! The simulator's JSON output.

use serde::Serialize;

use super::SimConfig;

/// Distribution of durations in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(mut xs: Vec<f64>) -> Self {
        if xs.is_empty() {
            return Self::default();
        }
        xs.sort_by(f64::total_cmp);
        let at = |q: f64| xs[((xs.len() as f64 * q).ceil() as usize).clamp(1, xs.len()) - 1];
        Self {
            count: xs.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: xs[xs.len() - 1],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KillReport {
    pub killed_nodes: usize,
    /// Placeable apps that lost at least one running instance.
    pub affected_apps: usize,
    /// Seconds from the kill until each affected app had exactly `instances` running again.
    pub time_to_replace_s: Stats,
    pub not_recovered: usize,
    /// Apps with fewer eligible live nodes than instances after the kill (on an empty
    /// network, or counting only the nodes with room for them at the end): cannot recover.
    pub infeasible_after_kill: usize,
}

/// `--unhealthy`: instances given up by their hosts and how fast the network re-placed
/// them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnhealthyReport {
    /// Instances that turned unhealthy (and were given up).
    pub given_up: usize,
    /// Apps that lost an instance that way.
    pub affected_apps: usize,
    /// Seconds from an app's (last) give-up until it had exactly `instances` running again
    /// — and the host that gave it up never took it back (hold-off).
    pub time_to_replace_s: Stats,
    pub not_recovered: usize,
    /// Give-ups undone: a host took an app back inside its hold-off (must be 0).
    pub taken_back: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PartitionReport {
    pub apps_above_n_at_heal: usize,
    /// Apps with more than `instances` running 30 s after the heal.
    pub apps_above_n_30s_after_heal: usize,
    pub extra_instances_30s_after_heal: u64,
    pub apps_above_n_at_end: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Traffic {
    /// Deliveries per node per second (a broadcast counts once per receiver).
    pub messages_per_node_per_s: f64,
    pub bytes_per_node_per_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExpiryReport {
    /// Apps running past expiry at the start whose removal height falls inside the run.
    pub expiring_apps: usize,
    pub renewed_apps: usize,
    /// Instances removed because the app reached expiry + grace.
    pub removals: usize,
    /// Block offset of each removal from the app's removal height (expiry + grace).
    pub offset_blocks_min: i64,
    pub offset_blocks_max: i64,
    /// Renewed apps still at exactly `instances` at the end.
    pub renewed_kept: usize,
    /// Expiring (not renewed) apps with any instance left at the end.
    pub not_removed: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FinalState {
    pub apps_at_n: usize,
    pub apps_above_n: usize,
    pub apps_below_n: usize,
    pub instances_running: u64,
    /// Up to 20 apps not at N: `name running/wanted`.
    pub off_target: Vec<String>,
    /// Nodes running at least one instance.
    pub distinct_hosts: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Invariants {
    /// Starts of an app on a node that already runs it.
    pub double_placements: u64,
    /// Starts that exceeded the node's free capacity after the system reserve.
    pub capacity_overcommits: u64,
    /// Reservations found held past their round (checked every 10 s and at the end).
    pub leaked_reservations: u64,
}

/// The nodes' own ledgers (`bidding` only): what gossip, loss, partitions and
/// anti-entropy left each node holding.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LedgerReport {
    /// Ledger views simulated: one per node, or one per partition side above 500 nodes.
    pub views: usize,
    /// Names registered by two owners at the same instant (from two sides of the
    /// partition when there is one).
    pub conflicts: usize,
    /// Live nodes whose ledger differs from the one most live nodes hold.
    pub nodes_differing_at_heal: usize,
    pub nodes_differing_30s_after_heal: usize,
    pub nodes_differing_at_end: usize,
    /// Running instances of a registration other than the one most ledgers hold.
    pub loser_instances_30s_after_heal: u64,
    pub loser_instances_at_end: u64,
    /// Summary exchanges that found a difference, and the actions they sent.
    pub sync_exchanges: u64,
    pub sync_actions_sent: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    pub config: SimConfig,
    /// Apps with fewer eligible nodes than instances (geolocation, tier, uptime, capacity
    /// on the empty network): no strategy can bring them to N.
    pub infeasible_apps: usize,
    /// Seconds from registration until the app first had exactly `instances` running.
    pub time_to_n_s: Stats,
    /// Apps that never reached `instances` after registration.
    pub never_reached_n: usize,
    /// Σ over apps of the seconds with more than `instances` running.
    pub over_assigned_app_seconds: f64,
    /// Σ over placeable apps of the seconds with fewer than `instances` running, counted
    /// from 30 s after registration (the placement target).
    pub under_assigned_app_seconds: f64,
    pub kill: Option<KillReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<UnhealthyReport>,
    pub partition: Option<PartitionReport>,
    pub traffic: Traffic,
    pub expiry: ExpiryReport,
    /// Group kill and failing nodes (`config.faults`).
    pub faults: super::FaultReport,
    pub final_state: FinalState,
    pub invariants: Invariants,
    pub ledger: LedgerReport,
    /// SHA-256 of the final placement, `app\tnode\n` lines sorted.
    pub digest: String,
    pub events: u64,
    /// Lines recorded for `config.trace_app`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
    /// `--update`: how the updated apps were rolled out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<super::UpdateReport>,
}
