//! Which running instances of an app to keep and which to stop.
//!
//! - Instances on nodes that no longer satisfy the app's fixed constraints (nodes list,
//!   geolocation, tier — e.g. after the owner updated the spec) stop and are re-placed.
//!   Low uptime or full capacity do not stop a running instance: moving it would cost a
//!   restart and a data copy to fix something the next heartbeats may already fix.
//! - When more instances run than the app wants (a partition healed and both sides placed
//!   the missing ones), the keepers are chosen among the running ones by the same rule as
//!   new winners — spread first, then quality — and the rest stop. So every node computes
//!   the same keepers, and the survivors are as spread out as the running set allows.
//! - When fewer run than wanted, all keepable instances stay (no churn to chase a better
//!   spread) and the missing ones are placed anew, with the kept ones counted as covering
//!   their continent, country and region.
//! - When the app is past its removal height, every instance stops.

use std::fmt;

use crate::eligibility::{Ineligible, check_static};
use crate::index::candidates_from;
use crate::model::{AppDemand, NodeInfo};
use crate::ranking::Ranker;
use crate::spread::{Candidates, Pick, Place, select};

/// Why a running instance is stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// The app is past `expiry + grace`.
    Removed { removal_height: u64 },
    /// The node no longer satisfies the app's constraints.
    NoLongerEligible(Ineligible),
    /// More instances run than the app wants; this one ranks below the keepers.
    Extra { instances: u32 },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Removed { removal_height } => {
                write!(
                    f,
                    "app reached its removal height {removal_height} (expiry + grace)"
                )
            }
            StopReason::NoLongerEligible(why) => write!(f, "node no longer eligible: {why}"),
            StopReason::Extra { instances } => write!(
                f,
                "extra instance: {instances} running instances rank higher by spread and quality"
            ),
        }
    }
}

/// The keep/stop decision for one app.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeepDecision {
    /// Kept node indices, in keep order (best first when chosen by rank).
    pub kept: Vec<u32>,
    pub stopped: Vec<(u32, StopReason)>,
}

/// Decides which of `running` (node indices, distinct) keep their instance of `app`.
pub fn decide_keep(
    app: &AppDemand,
    running: &[u32],
    nodes: &[NodeInfo],
    places: &[Place],
    score: &[u64],
    ranker: &Ranker,
    scratch: &mut Candidates,
) -> KeepDecision {
    let mut decision = KeepDecision::default();
    let mut keepable = Vec::with_capacity(running.len());
    for &i in running {
        match nodes.get(i as usize).map(|n| check_static(app, n)) {
            Some(Ok(())) => keepable.push(i),
            Some(Err(why)) => decision
                .stopped
                .push((i, StopReason::NoLongerEligible(why))),
            None => {}
        }
    }
    let wanted = app.instances as usize;
    let rank = |a: u32, b: u32| {
        ranker.cmp(
            score[a as usize],
            &nodes[a as usize].id,
            score[b as usize],
            &nodes[b as usize].id,
        )
    };
    if keepable.len() <= wanted {
        // Best first, so the order never depends on the input lists.
        keepable.sort_by(|&a, &b| rank(b, a));
        decision.kept = keepable;
        return decision;
    }
    candidates_from(&mut keepable, places, score, nodes, ranker, scratch);
    let mut picks: Vec<Pick> = Vec::with_capacity(wanted);
    select(scratch, &[], wanted, rank, &mut picks);
    decision.kept = picks.iter().map(|p| p.node).collect();
    for &i in &keepable {
        if !decision.kept.contains(&i) {
            decision.stopped.push((
                i,
                StopReason::Extra {
                    instances: app.instances,
                },
            ));
        }
    }
    decision
}
