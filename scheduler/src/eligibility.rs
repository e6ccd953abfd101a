//! Whether a node may host a new instance of an app, and if not, why.
//!
//! The checks run in a fixed order and the first failure is reported, so the reason names
//! the most fundamental obstacle: the app itself, then the node's identity and place
//! (nodes list, geolocation, tier), then its reliability, then its current state.

use std::fmt;

use proto::tier::Tier;

use crate::model::{AppDemand, Capacity, NodeInfo, Params};

/// Why a node cannot take a new instance of an app.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Ineligible {
    #[error(
        "the app's per-instance totals exceed the Stratus per-app caps (15 cores, 59,000 MB, 820 GB); no node can host it"
    )]
    AppTooLarge,
    #[error("the app's `nodes` list does not name this node")]
    NotInNodesList,
    #[error("the app's geolocation entries exclude the node's location {location}")]
    GeoExcluded { location: String },
    #[error("node tier {node} is below the {required} tier the app's totals require")]
    TierTooLow { node: Tier, required: Tier },
    #[error("node uptime {uptime} is below the minimum {minimum}")]
    UptimeBelowMinimum { uptime: f64, minimum: f64 },
    #[error("the node already runs an instance of the app")]
    AlreadyRunning,
    #[error("the node has {free} {resource} free after its system reserve; the app needs {needed}")]
    InsufficientCapacity {
        resource: ResourceKind,
        free: u64,
        needed: u64,
    },
}

impl Ineligible {
    /// A short stable label, used to count reasons in summaries.
    pub fn label(&self) -> &'static str {
        match self {
            Ineligible::AppTooLarge => "app too large",
            Ineligible::NotInNodesList => "not in nodes list",
            Ineligible::GeoExcluded { .. } => "geolocation",
            Ineligible::TierTooLow { .. } => "tier too low",
            Ineligible::UptimeBelowMinimum { .. } => "uptime below minimum",
            Ineligible::AlreadyRunning => "already running the app",
            Ineligible::InsufficientCapacity { resource, .. } => match resource {
                ResourceKind::Cpu => "insufficient cpu",
                ResourceKind::Ram => "insufficient ram",
                ResourceKind::Hdd => "insufficient hdd",
            },
        }
    }
}

/// Which resource was short, with the unit its numbers are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// Thousandths of a core.
    Cpu,
    /// MB.
    Ram,
    /// GB.
    Hdd,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Cpu => "millicores of cpu",
            ResourceKind::Ram => "MB of ram",
            ResourceKind::Hdd => "GB of hdd",
        })
    }
}

/// Whether the app's `nodes` list admits `node_id`. An entry matches the id exactly, or
/// its host part when the id is `host:port` (Flux node lists name IPs, node ids may
/// carry the API port).
pub fn nodes_list_admits(app: &AppDemand, node_id: &str) -> bool {
    app.nodes.is_empty()
        || app.nodes.iter().any(|entry| {
            entry == node_id
                || node_id
                    .strip_prefix(entry.as_str())
                    .is_some_and(|rest| rest.starts_with(':'))
        })
}

/// The checks that depend only on the app and the node, not on current usage: app size,
/// nodes list, geolocation and tier. A running instance that fails these must move.
pub fn check_static(app: &AppDemand, node: &NodeInfo) -> Result<(), Ineligible> {
    let required = app.required_tier().ok_or(Ineligible::AppTooLarge)?;
    if !nodes_list_admits(app, &node.id) {
        return Err(Ineligible::NotInNodesList);
    }
    if !app.geo.admits(&node.geo) {
        return Err(Ineligible::GeoExcluded {
            location: node.geo.to_string(),
        });
    }
    if node.tier < required {
        return Err(Ineligible::TierTooLow {
            node: node.tier,
            required,
        });
    }
    Ok(())
}

/// Whether a node's uptime meets the minimum. A NaN uptime never does.
pub fn uptime_ok(uptime: f64, params: &Params) -> bool {
    uptime >= params.min_uptime
}

/// Whether `free` covers `demand`; if not, the first short resource.
pub fn check_capacity(demand: Capacity, free: Capacity) -> Result<(), Ineligible> {
    let short = |resource, free, needed| Ineligible::InsufficientCapacity {
        resource,
        free,
        needed,
    };
    if demand.cpu_milli > free.cpu_milli {
        return Err(short(ResourceKind::Cpu, free.cpu_milli, demand.cpu_milli));
    }
    if demand.ram_mb > free.ram_mb {
        return Err(short(ResourceKind::Ram, free.ram_mb, demand.ram_mb));
    }
    if demand.hdd_gb > free.hdd_gb {
        return Err(short(ResourceKind::Hdd, free.hdd_gb, demand.hdd_gb));
    }
    Ok(())
}

/// Whether `node` may take a new instance of `app`, given its current `free` capacity
/// and whether it already runs the app.
pub fn check(
    app: &AppDemand,
    node: &NodeInfo,
    free: Capacity,
    already_running: bool,
    params: &Params,
) -> Result<(), Ineligible> {
    check_static(app, node)?;
    if !uptime_ok(node.uptime, params) {
        return Err(Ineligible::UptimeBelowMinimum {
            uptime: node.uptime,
            minimum: params.min_uptime,
        });
    }
    if already_running {
        return Err(Ineligible::AlreadyRunning);
    }
    check_capacity(Capacity::from(app.resources), free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::tier::Resources;

    fn node(id: &str, tier: Tier, geo: &str) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            tier,
            geo: geo.parse().unwrap(),
            total: Resources::new(8.0, 32_000, 880),
            used: Resources::default(),
            bench_score: 500.0,
            uptime: 0.99,
        }
    }

    fn app() -> AppDemand {
        AppDemand::new("web", 3, Resources::new(1.0, 1_000, 10))
    }

    fn verdict(app: &AppDemand, n: &NodeInfo) -> Result<(), Ineligible> {
        check(app, n, n.free(), false, &Params::default())
    }

    #[test]
    fn uptime_threshold_is_inclusive() {
        let p = Params::default();
        let mut n = node("a", Tier::Cumulus, "EU_DE_Hesse");
        n.uptime = 0.9;
        assert_eq!(check(&app(), &n, n.free(), false, &p), Ok(()));
        n.uptime = 0.899_999;
        assert!(matches!(
            check(&app(), &n, n.free(), false, &p),
            Err(Ineligible::UptimeBelowMinimum { .. })
        ));
        n.uptime = f64::NAN;
        assert!(check(&app(), &n, n.free(), false, &p).is_err());
    }

    #[test]
    fn nodes_list_restricts_by_id_or_host() {
        let a = app().with_nodes(["1.2.3.4", "n9"]);
        assert_eq!(verdict(&a, &node("n9", Tier::Cumulus, "EU")), Ok(()));
        assert_eq!(
            verdict(&a, &node("1.2.3.4:16127", Tier::Cumulus, "EU")),
            Ok(())
        );
        assert_eq!(
            verdict(&a, &node("1.2.3.45", Tier::Cumulus, "EU")),
            Err(Ineligible::NotInNodesList)
        );
        assert_eq!(
            verdict(&a, &node("n", Tier::Cumulus, "EU")),
            Err(Ineligible::NotInNodesList)
        );
    }

    #[test]
    fn geo_deny_excludes() {
        let a = app().with_geolocation(&["acEU", "a!cEU_DE"]);
        assert_eq!(
            verdict(&a, &node("a", Tier::Cumulus, "EU_FR_Normandy")),
            Ok(())
        );
        assert_eq!(
            verdict(&a, &node("b", Tier::Cumulus, "EU_DE_Hesse")),
            Err(Ineligible::GeoExcluded {
                location: "EU_DE_Hesse".into()
            })
        );
        assert!(verdict(&a, &node("c", Tier::Cumulus, "NA_US_Texas")).is_err());
    }

    #[test]
    fn tier_too_low_and_app_too_large() {
        let nimbus_app = AppDemand::new("db", 1, Resources::new(4.0, 8_000, 100));
        assert_eq!(
            verdict(&nimbus_app, &node("a", Tier::Cumulus, "EU")),
            Err(Ineligible::TierTooLow {
                node: Tier::Cumulus,
                required: Tier::Nimbus
            })
        );
        assert_eq!(
            verdict(&nimbus_app, &node("b", Tier::Stratus, "EU")),
            Ok(())
        );
        let huge = AppDemand::new("huge", 1, Resources::new(16.0, 1, 1));
        assert_eq!(
            verdict(&huge, &node("b", Tier::Stratus, "EU")),
            Err(Ineligible::AppTooLarge)
        );
    }

    #[test]
    fn already_running_and_capacity() {
        let n = node("a", Tier::Cumulus, "EU");
        let p = Params::default();
        assert_eq!(
            check(&app(), &n, n.free(), true, &p),
            Err(Ineligible::AlreadyRunning)
        );
        let free = Capacity {
            cpu_milli: 999,
            ram_mb: 10_000,
            hdd_gb: 100,
        };
        assert_eq!(
            check(&app(), &n, free, false, &p),
            Err(Ineligible::InsufficientCapacity {
                resource: ResourceKind::Cpu,
                free: 999,
                needed: 1_000
            })
        );
        let exact = Capacity {
            cpu_milli: 1_000,
            ram_mb: 1_000,
            hdd_gb: 10,
        };
        assert_eq!(check(&app(), &n, exact, false, &p), Ok(()));
    }
}
