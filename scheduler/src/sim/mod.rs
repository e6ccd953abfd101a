//! Discrete-event simulator: every node's protocol state machine in one process over a
//! simulated network (latency, loss, partitions, node death) and a simulated container
//! runtime (starts take time and can fail). Deterministic from a seed: one ChaCha RNG,
//! events ordered by (time, sequence number), no wall clock, no hash-order iteration.
//!
//! Two strategies run on the same scenario: `bidding` (this crate's [`crate::protocol`])
//! and `fluxos` (FluxOS's own random-claim behaviour, [`fluxos`]).

mod bidding;
pub mod faults;
pub mod fluxos;
mod ledgers;
mod net;
mod report;
mod scenario;
pub mod testbed;
mod tracker;
pub mod update;
pub mod workload;

use serde::Serialize;

pub use faults::{Death, FaultReport, Faults, GroupKill};
pub use ledgers::{PER_NODE_MAX, RESYNC_EVERY, SYNC_PEERS};
pub use report::{
    ExpiryReport, FinalState, Invariants, KillReport, LedgerReport, PartitionReport, SimReport,
    Stats, Traffic, UnhealthyReport,
};
pub use update::{Update, UpdateGroup, UpdateReport};

/// Which node implementation to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Bidding,
    Fluxos,
}

/// Kill `percent` % of the nodes (chosen by the seed) at `at_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Kill {
    pub percent: f64,
    pub at_s: u64,
}

/// Turn `percent` % of the running instances (chosen by the seed) unhealthy at `at_s`;
/// their hosts give them up [`UNHEALTHY_GIVE_UP_MS`] later.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unhealthy {
    pub percent: f64,
    pub at_s: u64,
}

/// From an instance turning unhealthy to its host giving it up, in the simulator: the
/// daemon's probes take `failures × period` to call it unhealthy (3 × 5 s by default),
/// then restart it after the backoff and probe again through the grace; 30 s is that
/// budget for a check of period 5 s, 3 failures, 1 restart at once and a 0 s grace.
/// The replacement time reported is counted from the give-up, which this does not affect.
pub const UNHEALTHY_GIVE_UP_MS: u64 = 30_000;

/// Split the nodes `a`:`b` (random sides, by the seed) from `from_s` to `to_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub a: u32,
    pub b: u32,
    pub from_s: u64,
    pub to_s: u64,
}

/// A scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    pub nodes: usize,
    pub apps: usize,
    pub seed: u64,
    pub duration_s: u64,
    /// One-way latency; each message takes 0.5–1.5 × this.
    pub latency_ms: u64,
    /// Probability that any one delivery is lost.
    pub loss: f64,
    pub kill: Option<Kill>,
    /// Instances that turn unhealthy and are given up by their hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy: Option<Unhealthy>,
    pub partition: Option<Partition>,
    /// Owners publish a new spec of some apps (a rolling update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    pub strategy: Strategy,
    /// Apps are registered at uniform times in `[0, register_window_s]`.
    pub register_window_s: u64,
    /// Share of apps that are already running past their expiry at the start; their
    /// removal height falls at mid-run, and half of them are renewed before it.
    pub expiring_share: f64,
    /// Probability that a container start fails.
    pub start_failure: f64,
    /// Container start time range in ms (pull cached; create and start).
    pub start_ms: (u64, u64),
    /// Apps whose name a second owner registers at the same instant from another node
    /// (the other side of the partition, when there is one).
    pub conflicts: usize,
    /// Give every node its own ledger and view (fed by lossy gossip and anti-entropy);
    /// otherwise all nodes share one.
    pub node_ledgers: bool,
    /// Record every message and container action about this app (for debugging a run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_app: Option<String>,
    /// The network and apps: the Flux census, or `scripts/scale.sh`'s one-machine testbed.
    pub shape: testbed::Shape,
    /// Whole-group loss, persistently failing nodes, how deaths are noticed.
    pub faults: Faults,
}

impl SimConfig {
    /// The scenario defaults: 100 ms latency, 1 % loss, 1 % start failures, starts of
    /// 0.5–3 s, registrations over the first 60 s, 5 % of apps expiring mid-run.
    pub fn new(nodes: usize, apps: usize, seed: u64) -> Self {
        Self {
            nodes,
            apps,
            seed,
            duration_s: 1_000,
            latency_ms: 100,
            loss: 0.01,
            kill: None,
            unhealthy: None,
            partition: None,
            update: None,
            strategy: Strategy::Bidding,
            register_window_s: 60,
            expiring_share: 0.05,
            start_failure: 0.01,
            start_ms: (500, 3_000),
            conflicts: 0,
            node_ledgers: false,
            trace_app: None,
            shape: testbed::Shape::Census,
            faults: Faults::new(),
        }
    }
}

/// A scenario the simulator cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("--nodes must be at least 1 (got {0})")]
    Nodes(usize),
    #[error("--loss must be in [0, 1) (got {0})")]
    Loss(f64),
    #[error("--kill percent must be in [0, 100] (got {0})")]
    KillPercent(f64),
    #[error("--kill time {at}s is past the end of the run ({duration}s)")]
    KillTime { at: u64, duration: u64 },
    #[error(
        "--unhealthy needs a percent in (0, 100] and a time within the run (got {percent}@{at})"
    )]
    Unhealthy { percent: f64, at: u64 },
    #[error("--partition needs A and B above 0 and T1 < T2 (got {a}/{b}@{from}-{to})")]
    Partition { a: u32, b: u32, from: u64, to: u64 },
    #[error("--kill-group time {at}s is past the end of the run ({duration}s)")]
    KillGroupTime { at: u64, duration: u64 },
    #[error("--kill-group and --kill cannot both be given (one kill per run)")]
    TwoKills,
    #[error("--failing-nodes {0} leaves no node that can start an app")]
    FailingNodes(usize),
    #[error("--kill-group and --failing-nodes are modelled for --strategy bidding only")]
    FaultsNeedBidding,
    #[error("--instances must be at least 1")]
    Instances,
    #[error("--update needs at least 1 app and a time within the run (got {apps}@{at})")]
    Update { apps: usize, at: u64 },
}

impl SimConfig {
    pub fn validate(&self) -> Result<(), SimError> {
        if self.nodes == 0 {
            return Err(SimError::Nodes(self.nodes));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(SimError::Loss(self.loss));
        }
        if let Some(k) = self.kill {
            if !(0.0..=100.0).contains(&k.percent) {
                return Err(SimError::KillPercent(k.percent));
            }
            if k.at_s > self.duration_s {
                return Err(SimError::KillTime {
                    at: k.at_s,
                    duration: self.duration_s,
                });
            }
        }
        if let Some(g) = self.faults.kill_group {
            if g.at_s > self.duration_s {
                return Err(SimError::KillGroupTime {
                    at: g.at_s,
                    duration: self.duration_s,
                });
            }
            if self.kill.is_some() {
                return Err(SimError::TwoKills);
            }
        }
        if self.faults.failing_nodes > 0 && self.faults.failing_nodes >= self.nodes {
            return Err(SimError::FailingNodes(self.faults.failing_nodes));
        }
        if (self.faults.kill_group.is_some() || self.faults.failing_nodes > 0)
            && self.strategy != Strategy::Bidding
        {
            return Err(SimError::FaultsNeedBidding);
        }
        if self.shape == (testbed::Shape::Testbed { instances: 0 }) {
            return Err(SimError::Instances);
        }
        if let Some(u) = self.unhealthy {
            if !(u.percent > 0.0 && u.percent <= 100.0) || u.at_s > self.duration_s {
                return Err(SimError::Unhealthy {
                    percent: u.percent,
                    at: u.at_s,
                });
            }
        }
        if let Some(u) = self.update {
            if u.apps == 0 || u.at_s > self.duration_s {
                return Err(SimError::Update {
                    apps: u.apps,
                    at: u.at_s,
                });
            }
        }
        if let Some(p) = self.partition {
            if p.a == 0 || p.b == 0 || p.from_s >= p.to_s {
                return Err(SimError::Partition {
                    a: p.a,
                    b: p.b,
                    from: p.from_s,
                    to: p.to_s,
                });
            }
        }
        Ok(())
    }
}

/// Runs a scenario to its end and reports.
pub fn run(config: &SimConfig) -> Result<SimReport, SimError> {
    config.validate()?;
    Ok(match config.strategy {
        Strategy::Bidding => bidding::run(config),
        Strategy::Fluxos => fluxos::run(config),
    })
}
