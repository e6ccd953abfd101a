//! The scheduler's inputs: nodes, app demands, running instances and parameters.
//!
//! These types are deliberately independent of the Flux app-spec types in `proto::spec`:
//! the scheduler only needs an app's totals, instance count, geolocation, node list and
//! registration height, so converting a spec into an [`AppDemand`] is the caller's job.

use proto::geo::{GeoFilter, Location};
use proto::tier::{Resources, SYSTEM_RESERVE, Tier};

use crate::expiry::DEFAULT_EXPIRE;

/// One node as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Unique node id (the CLI uses whatever the operator names it; the daemon uses its
    /// peer id). Unique within one scheduling run.
    pub id: String,
    pub tier: Tier,
    /// Node location `CONT_CC_REGION`. Spread counts distinct values of each prefix.
    pub geo: Location,
    /// Whole size of the node; the scheduler subtracts [`SYSTEM_RESERVE`] itself.
    pub total: Resources,
    /// What the node already uses for apps (normally including the instances listed as
    /// running; see [`Params::running_counted_in_used`]).
    pub used: Resources,
    /// Benchmark score (CPU events per second in `fluxnode bench`), `>= 0`.
    pub bench_score: f64,
    /// Observed uptime over the heartbeat window, in `[0, 1]`.
    pub uptime: f64,
}

impl NodeInfo {
    /// What the node offers to apps: total − system reserve.
    pub fn allocatable(&self) -> Capacity {
        Capacity::from(self.total).saturating_sub(Capacity::from(SYSTEM_RESERVE))
    }

    /// `used`, lowered where needed so that `demand` still fits: for a node whose bid says
    /// it has room (and holds it reserved) while its last announcement says less, so the
    /// announced load still counts in its ranking (free share) without making it look full.
    pub fn used_leaving_room(&self, demand: Capacity) -> Resources {
        let most = self.allocatable().saturating_sub(demand);
        let used = Capacity::from(self.used);
        Resources::new(
            used.cpu_milli.min(most.cpu_milli) as f64 / 1000.0,
            used.ram_mb.min(most.ram_mb),
            used.hdd_gb.min(most.hdd_gb),
        )
    }

    /// Free capacity offered to apps: total − system reserve − used, never below zero.
    pub fn free(&self) -> Capacity {
        Capacity::from(self.total)
            .saturating_sub(Capacity::from(SYSTEM_RESERVE))
            .saturating_sub(Capacity::from(self.used))
    }
}

/// What one app asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct AppDemand {
    /// Unique app name.
    pub name: String,
    /// Number of instances wanted.
    pub instances: u32,
    /// Per-instance totals over all components (cpu cores, ram MB, hdd GB).
    pub resources: Resources,
    /// Parsed geolocation allow/deny entries.
    pub geo: GeoFilter,
    /// Node ids allowed to host the app; empty means any node.
    pub nodes: Vec<String>,
    /// Height of the registration or of the last renewal.
    pub height: u64,
    /// Subscription length in blocks, counted from `height`.
    pub expire: u32,
}

impl AppDemand {
    /// An unconstrained app with the default subscription length, registered at height 0.
    pub fn new(name: impl Into<String>, instances: u32, resources: Resources) -> Self {
        Self {
            name: name.into(),
            instances,
            resources,
            geo: GeoFilter::default(),
            nodes: Vec::new(),
            height: 0,
            expire: DEFAULT_EXPIRE,
        }
    }

    /// Sets the geolocation entries, skipping entries that do not parse (as FluxOS does,
    /// see [`GeoFilter::parse_lenient`]).
    pub fn with_geolocation<S: AsRef<str>>(mut self, entries: &[S]) -> Self {
        self.geo = GeoFilter::parse_lenient(entries).0;
        self
    }

    pub fn with_nodes<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.nodes = nodes.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_height(mut self, height: u64) -> Self {
        self.height = height;
        self
    }

    pub fn with_expire(mut self, expire: u32) -> Self {
        self.expire = expire;
        self
    }

    /// The lowest tier that may host this app, or `None` when it exceeds every tier's caps.
    pub fn required_tier(&self) -> Option<Tier> {
        Tier::required_for(self.resources)
    }
}

/// An instance of `app` that is running (or was last reported running) on `node`.
/// Also the record type of RUNNING.json: `[{"app": "name", "node": "n3"}]`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Running {
    pub app: String,
    pub node: String,
}

impl Running {
    pub fn new(app: impl Into<String>, node: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            node: node.into(),
        }
    }
}

/// Scheduling parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Nodes below this observed uptime get no new instances. 0.9 by default: a node
    /// missing more than one heartbeat in ten is not one to hand new work to.
    pub min_uptime: f64,
    /// Whether `NodeInfo::used` already includes the instances listed as running (true
    /// when nodes report their own usage, as the CLI's NODES.json does). When false the
    /// scheduler subtracts each running instance's demand from the node's free capacity.
    pub running_counted_in_used: bool,
    /// Current chain height, when known. Expired apps get no new placements and the
    /// instances of apps past their removal height are stopped.
    pub height: Option<u64>,
}

/// Default [`Params::min_uptime`].
pub const DEFAULT_MIN_UPTIME: f64 = 0.9;

impl Default for Params {
    fn default() -> Self {
        Self {
            min_uptime: DEFAULT_MIN_UPTIME,
            running_counted_in_used: true,
            height: None,
        }
    }
}

/// Resources in exact integer units: thousandths of a core, MB of RAM, GB of disk.
///
/// CPU is kept in millicores because app specs sum decimal fractions (0.1 + 0.2) that
/// binary floats cannot represent; integer arithmetic makes "consumed capacity" exact and
/// identical on every machine. Flux specs use steps of 0.1 core, so 1/1000 loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Capacity {
    pub cpu_milli: u64,
    pub ram_mb: u64,
    pub hdd_gb: u64,
}

impl Capacity {
    pub const ZERO: Capacity = Capacity {
        cpu_milli: 0,
        ram_mb: 0,
        hdd_gb: 0,
    };

    pub fn fits_within(&self, other: &Capacity) -> bool {
        self.cpu_milli <= other.cpu_milli
            && self.ram_mb <= other.ram_mb
            && self.hdd_gb <= other.hdd_gb
    }

    pub fn saturating_sub(self, other: Capacity) -> Capacity {
        Capacity {
            cpu_milli: self.cpu_milli.saturating_sub(other.cpu_milli),
            ram_mb: self.ram_mb.saturating_sub(other.ram_mb),
            hdd_gb: self.hdd_gb.saturating_sub(other.hdd_gb),
        }
    }

    pub fn saturating_add(self, other: Capacity) -> Capacity {
        Capacity {
            cpu_milli: self.cpu_milli.saturating_add(other.cpu_milli),
            ram_mb: self.ram_mb.saturating_add(other.ram_mb),
            hdd_gb: self.hdd_gb.saturating_add(other.hdd_gb),
        }
    }

    /// Component-wise minimum.
    pub fn min(self, other: Capacity) -> Capacity {
        Capacity {
            cpu_milli: self.cpu_milli.min(other.cpu_milli),
            ram_mb: self.ram_mb.min(other.ram_mb),
            hdd_gb: self.hdd_gb.min(other.hdd_gb),
        }
    }
}

impl From<Resources> for Capacity {
    /// Rounds cpu to the nearest millicore. Negative or NaN values become 0 (float to
    /// integer `as` casts saturate), so malformed input cannot wrap around.
    fn from(r: Resources) -> Self {
        Capacity {
            cpu_milli: (r.cpu * 1000.0).round() as u64,
            ram_mb: r.ram,
            hdd_gb: r.hdd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_leaving_room_keeps_the_load_that_fits() {
        let node = NodeInfo {
            id: "n".into(),
            tier: Tier::Cumulus,
            geo: "EU_DE_Hesse".parse().unwrap(),
            total: Resources::new(4.0, 8_000, 220),
            used: Resources::new(2.5, 1_000, 10),
            bench_score: 1.0,
            uptime: 1.0,
        };
        let demand = Capacity::from(Resources::new(1.0, 500, 1));
        let used = node.used_leaving_room(demand);
        // 3 cores offered (4 − 1 reserve): at most 2 used for 1 more to fit.
        assert_eq!(used, Resources::new(2.0, 1_000, 10));
        let room = NodeInfo { used, ..node };
        assert!(demand.fits_within(&room.free()));
    }

    #[test]
    fn free_applies_reserve_and_never_underflows() {
        let node = NodeInfo {
            id: "n".into(),
            tier: Tier::Cumulus,
            geo: "EU_DE_Hesse".parse().unwrap(),
            total: Resources::new(4.0, 8_000, 220),
            used: Resources::new(0.5, 1_000, 10),
            bench_score: 1.0,
            uptime: 1.0,
        };
        assert_eq!(
            node.free(),
            Capacity {
                cpu_milli: 2_500,
                ram_mb: 5_000,
                hdd_gb: 150
            }
        );
        let small = NodeInfo {
            total: Resources::new(0.5, 100, 1),
            ..node
        };
        assert_eq!(small.free(), Capacity::ZERO);
    }

    #[test]
    fn cpu_fractions_sum_exactly() {
        let cpu: f64 = std::iter::repeat_n(0.1, 30).sum();
        assert_eq!(Capacity::from(Resources::new(cpu, 0, 0)).cpu_milli, 3_000);
        assert_eq!(Capacity::from(Resources::new(-1.0, 0, 0)).cpu_milli, 0);
        assert_eq!(Capacity::from(Resources::new(f64::NAN, 0, 0)).cpu_milli, 0);
    }
}
