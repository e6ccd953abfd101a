//! The daemon: one service task that drives the placement protocol
//! ([`scheduler::protocol::Node`]) with the network, the Docker runtime, the store and a
//! clock, and answers the HTTP API through a [`DaemonHandle`].
//!
//! Data flow: a verified message from [`crate::network`] is turned into protocol input by
//! [`wire`] (owner actions go through the [`registry`] first, announcements and running
//! reports through [`members`]); the protocol's outputs are carried out by `effects`:
//! broadcasts and direct sends are signed and handed to the network, container starts and
//! removals run as tasks whose results come back as inputs, records are written to the
//! store before anything that depends on them.

mod bids;
mod clock;
mod effects;
mod gauges;
pub mod handle;
pub mod members;
mod outcomes;
mod ports;
mod probes;
mod rebench;
pub mod registry;
mod reverts;
mod service;
mod startup;
mod status;
mod sync;
mod trust;
pub mod wire;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use proto::keys::{Keypair, NodeId};
use proto::message::NodeAnnouncement;
use scheduler::protocol::{Millis, Node, View};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use clock::{Clock, unix_ms};
pub use handle::{DaemonHandle, Request};
pub use startup::{StartupError, start};

use crate::metrics::Metrics;
use crate::network::NetworkHandle;
use crate::runtime::Runtime;
use crate::store::Store;

/// How long peers keep a restarting node's apps in place after it announces a planned
/// restart (SIGTERM under systemd): the unit's `RestartSec` plus start-up and benchmark
/// cache load take well under a minute; two leave room for a slow Docker engine.
pub const PLANNED_RESTART_WINDOW: Millis = 120_000;

/// A runtime task's outcome, fed back to the protocol.
#[derive(Debug)]
enum TaskDone {
    Started {
        app: Arc<str>,
        result: Result<crate::runtime::StartReport, crate::runtime::RuntimeError>,
    },
    Removed {
        app: Arc<str>,
        expired: bool,
        result: Result<crate::runtime::RemovalReport, crate::runtime::RuntimeError>,
    },
}

/// Everything the service task owns.
#[allow(missing_debug_implementations)] // holds the protocol state; `/api/v1/node` shows it
pub struct Daemon {
    id: NodeId,
    key: Keypair,
    clock: Clock,
    node: Node<NodeId>,
    view: View<NodeId>,
    registry: registry::Registry,
    members: members::Members,
    facts: wire::SelfFacts,
    store: Store,
    runtime: Runtime,
    network: NetworkHandle,
    metrics: Metrics,
    bench: Option<crate::bench::BenchReport>,
    /// Reports of the periodic re-benchmark (`bench.period`).
    bench_reports: tokio::sync::watch::Receiver<Option<crate::bench::BenchReport>>,
    started: Instant,
    /// Earliest time the protocol asked to be woken.
    next_timer: Option<Millis>,
    tasks: JoinSet<TaskDone>,
    /// Apps with a start task running (a second start waits for the first).
    starting: BTreeSet<Arc<str>>,
    peers: BTreeSet<NodeId>,
    /// Peers whose last connection closed, and when.
    disconnected: std::collections::BTreeMap<NodeId, Millis>,
    /// Bids this node placed and not yet heard the end of.
    bids: bids::OpenBids,
    last_announcement: Option<NodeAnnouncement>,
    single_node: bool,
    docker_ok: bool,
    /// Whether app volumes are fixed-size (`Ok(true)`), unbounded by configuration
    /// (`Ok(false)`), or cannot be made on this host (the reason).
    volumes: Result<bool, String>,
    /// The network's last verdict on gossip (readiness).
    gossip: crate::network::health::GossipHealth,
    requests: mpsc::Receiver<Request>,
    stopping: bool,
    /// Apps with per-app gauge series, and when those were last refreshed.
    app_series: gauges::AppSeries,
    /// When the host ports of every registered app were last checked (`ports`).
    ports_swept: Millis,
    /// What happened to this node's starts, for `explain`.
    outcomes: outcomes::Outcomes,
    /// When each peer's ledger summary was last answered with a batch.
    sync_answered: std::collections::BTreeMap<NodeId, Millis>,
    /// When every peer is next sent a ledger summary.
    next_resync: Millis,
    /// Apps that left the ledger at their removal height, until their removal is counted
    /// as an expiry.
    expired_apps: std::collections::BTreeSet<Arc<str>>,
    /// Health probe tasks of the running instances.
    probes: probes::Probes,
}
