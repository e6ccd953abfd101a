//! Invariants every scheduler output must satisfy, checked from the inputs alone.
//!
//! Used by the tests after every scheduling step, and available to the simulator:
//! - one placement entry per app, naming only known apps and nodes;
//! - never two instances of one app on one node, and no new instance on a node that
//!   already runs the app;
//! - kept and stopped instances partition the running ones;
//! - kept + new + missing = instances (nothing kept or placed for a removable app);
//! - new instances only on nodes that satisfy the app's constraints and minimum uptime;
//! - no node receives more than its free capacity after the system reserve.

use std::collections::{HashMap, HashSet};

use crate::contract::ScheduleOutput;
use crate::eligibility::{Ineligible, check_static, uptime_ok};
use crate::expiry::is_removable;
use crate::model::{AppDemand, Capacity, NodeInfo, Params, Running};

/// A broken invariant, described for a test failure message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Violation {
    #[error("app {0:?} has {1} placement entries; expected exactly one")]
    PlacementEntries(String, usize),
    #[error("output names unknown app {0:?}")]
    UnknownApp(String),
    #[error("output names unknown node {node:?} for app {app:?}")]
    UnknownNode { app: String, node: String },
    #[error("app {app:?} is on node {node:?} twice")]
    TwoInstancesOnOneNode { app: String, node: String },
    #[error("app {app:?}: new instance on {node:?}, which already runs it")]
    PlacedOnRunning { app: String, node: String },
    #[error("app {app:?}: kept/stopped {node:?} is not a running instance, or is both or neither")]
    KeepStopMismatch { app: String, node: String },
    #[error("app {app:?}: kept {kept} + new {new} + missing {missing} != instances {instances}")]
    CountMismatch {
        app: String,
        kept: usize,
        new: usize,
        missing: u32,
        instances: u32,
    },
    #[error("app {app:?}: new instance on ineligible node {node:?}: {why}")]
    IneligiblePlacement {
        app: String,
        node: String,
        why: Ineligible,
    },
    #[error("node {node:?}: new instances need {needed:?}, only {free:?} free")]
    Overcommit {
        node: String,
        needed: Capacity,
        free: Capacity,
    },
}

/// Checks `out` against the inputs it was computed from.
pub fn check(
    nodes: &[NodeInfo],
    apps: &[AppDemand],
    running: &[Running],
    params: &Params,
    out: &ScheduleOutput,
) -> Result<(), Violation> {
    let node_by_id: HashMap<&str, &NodeInfo> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let app_by_name: HashMap<&str, &AppDemand> =
        apps.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut running_of: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in running {
        if app_by_name.contains_key(r.app.as_str()) && node_by_id.contains_key(r.node.as_str()) {
            running_of.entry(&r.app).or_default().insert(&r.node);
        }
    }
    let mut stops: HashMap<&str, Vec<&str>> = HashMap::new();
    for s in &out.stop {
        stops.entry(&s.app).or_default().push(&s.node);
    }
    let mut added: HashMap<&str, Capacity> = HashMap::new();
    for a in apps {
        let entries: Vec<_> = out.placements.iter().filter(|p| p.app == a.name).collect();
        let [p] = entries.as_slice() else {
            return Err(Violation::PlacementEntries(a.name.clone(), entries.len()));
        };
        let empty = HashSet::new();
        let run = running_of.get(a.name.as_str()).unwrap_or(&empty);
        let mut seen = HashSet::new();
        for node in p.keep.iter().chain(&p.nodes) {
            if !seen.insert(node.as_str()) {
                return Err(Violation::TwoInstancesOnOneNode {
                    app: a.name.clone(),
                    node: node.clone(),
                });
            }
        }
        let stopped = stops.get(a.name.as_str()).cloned().unwrap_or_default();
        let mut partition: Vec<&str> = p.keep.iter().map(String::as_str).chain(stopped).collect();
        partition.sort_unstable();
        let mut expected: Vec<&str> = run.iter().copied().collect();
        expected.sort_unstable();
        if partition != expected {
            let node = partition
                .iter()
                .chain(&expected)
                .find(|n| {
                    !partition.contains(n)
                        || !expected.contains(n)
                        || partition.iter().filter(|x| x == n).count() > 1
                })
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(Violation::KeepStopMismatch {
                app: a.name.clone(),
                node,
            });
        }
        let missing = out
            .unplaced
            .iter()
            .find(|u| u.app == a.name)
            .map_or(0, |u| u.missing);
        let removable = params
            .height
            .is_some_and(|h| is_removable(a.height, a.expire, h));
        let wanted = if removable { 0 } else { a.instances };
        if p.keep.len() + p.nodes.len() + missing as usize != wanted as usize {
            return Err(Violation::CountMismatch {
                app: a.name.clone(),
                kept: p.keep.len(),
                new: p.nodes.len(),
                missing,
                instances: wanted,
            });
        }
        for node in &p.nodes {
            let Some(n) = node_by_id.get(node.as_str()) else {
                return Err(Violation::UnknownNode {
                    app: a.name.clone(),
                    node: node.clone(),
                });
            };
            if run.contains(node.as_str()) {
                return Err(Violation::PlacedOnRunning {
                    app: a.name.clone(),
                    node: node.clone(),
                });
            }
            let why = check_static(a, n).err().or_else(|| {
                if uptime_ok(n.uptime, params) {
                    None
                } else {
                    Some(Ineligible::UptimeBelowMinimum {
                        uptime: n.uptime,
                        minimum: params.min_uptime,
                    })
                }
            });
            if let Some(why) = why {
                return Err(Violation::IneligiblePlacement {
                    app: a.name.clone(),
                    node: node.clone(),
                    why,
                });
            }
            let e = added.entry(&n.id).or_default();
            *e = e.saturating_add(Capacity::from(a.resources));
        }
    }
    if let Some(p) = out
        .placements
        .iter()
        .find(|p| !app_by_name.contains_key(p.app.as_str()))
    {
        return Err(Violation::UnknownApp(p.app.clone()));
    }
    for (id, needed) in added {
        let Some(n) = node_by_id.get(id) else {
            continue;
        };
        let mut free = n.free();
        if !params.running_counted_in_used {
            for (app, on) in &running_of {
                if on.contains(id)
                    && let Some(a) = app_by_name.get(app)
                {
                    free = free.saturating_sub(Capacity::from(a.resources));
                }
            }
        }
        if !needed.fits_within(&free) {
            return Err(Violation::Overcommit {
                node: id.to_string(),
                needed,
                free,
            });
        }
    }
    Ok(())
}
