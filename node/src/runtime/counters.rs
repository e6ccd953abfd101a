//! Counters of what the runtime did and what failed, read by the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::ErrorKind;

/// Error kinds in a fixed order, for the per-kind counter array.
const KINDS: [ErrorKind; 11] = [
    ErrorKind::InvalidPlan,
    ErrorKind::DaemonUnreachable,
    ErrorKind::ImageNotFound,
    ErrorKind::RegistryAuth,
    ErrorKind::PortTaken,
    ErrorKind::OutOfDisk,
    ErrorKind::Timeout,
    ErrorKind::Docker,
    ErrorKind::Store,
    ErrorKind::SubnetsExhausted,
    ErrorKind::Volume,
];

impl ErrorKind {
    /// Stable snake_case name, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidPlan => "invalid_plan",
            ErrorKind::DaemonUnreachable => "daemon_unreachable",
            ErrorKind::ImageNotFound => "image_not_found",
            ErrorKind::RegistryAuth => "registry_auth",
            ErrorKind::PortTaken => "port_taken",
            ErrorKind::OutOfDisk => "out_of_disk",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Docker => "docker",
            ErrorKind::Store => "store",
            ErrorKind::SubnetsExhausted => "subnets_exhausted",
            ErrorKind::Volume => "volume",
        }
    }

    fn slot(self) -> usize {
        KINDS
            .iter()
            .position(|k| *k == self)
            .unwrap_or(KINDS.len() - 1)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    apps_started: AtomicU64,
    apps_removed: AtomicU64,
    containers_adopted: AtomicU64,
    container_restarts: AtomicU64,
    images_pulled: AtomicU64,
    pull_millis: AtomicU64,
    images_removed: AtomicU64,
    errors: [AtomicU64; KINDS.len()],
}

/// A point-in-time copy of the counters (monotonic since the runtime was built).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CountersSnapshot {
    pub apps_started: u64,
    pub apps_removed: u64,
    pub containers_adopted: u64,
    pub container_restarts: u64,
    pub images_pulled: u64,
    /// Total time spent pulling, in milliseconds.
    pub pull_millis: u64,
    pub images_removed: u64,
    /// Errors by kind, every kind listed (zero included).
    pub errors: Vec<(ErrorKind, u64)>,
}

impl CountersSnapshot {
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

fn bump(c: &AtomicU64, by: u64) {
    c.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    pub fn app_started(&self) {
        bump(&self.apps_started, 1);
    }
    pub fn app_removed(&self) {
        bump(&self.apps_removed, 1);
    }
    pub fn adopted(&self, n: u64) {
        bump(&self.containers_adopted, n);
    }
    pub fn restarted(&self) {
        bump(&self.container_restarts, 1);
    }
    pub fn pulled(&self, millis: u64) {
        bump(&self.images_pulled, 1);
        bump(&self.pull_millis, millis);
    }
    pub fn image_removed(&self) {
        bump(&self.images_removed, 1);
    }
    pub fn error(&self, kind: ErrorKind) {
        bump(&self.errors[kind.slot()], 1);
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            apps_started: get(&self.apps_started),
            apps_removed: get(&self.apps_removed),
            containers_adopted: get(&self.containers_adopted),
            container_restarts: get(&self.container_restarts),
            images_pulled: get(&self.images_pulled),
            pull_millis: get(&self.pull_millis),
            images_removed: get(&self.images_removed),
            errors: KINDS
                .iter()
                .map(|k| (*k, get(&self.errors[k.slot()])))
                .collect(),
        }
    }
}
