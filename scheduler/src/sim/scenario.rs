//! The scenario both strategies run: the census network, the apps, and the expiring apps
//! already running at time 0.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::testbed::{self, Shape};
use super::{SimConfig, workload};
use crate::expiry::{DEFAULT_EXPIRE, GRACE_BLOCKS};
use crate::model::{AppDemand, NodeInfo, Params};
use crate::protocol::AppRecord;
use crate::schedule;

/// Chain height at simulated time 0 (any height well above the expire lengths used).
pub(crate) const GENESIS_HEIGHT: u64 = 2_000_000;

pub(crate) struct Setup {
    /// Apps with fewer eligible nodes (constraints, uptime, capacity on an empty network)
    /// than instances: no strategy can bring them to N.
    pub infeasible: usize,
    pub infos: Vec<NodeInfo>,
    pub demands: Vec<AppDemand>,
    pub expiring: Vec<usize>,
    pub renewed: BTreeSet<usize>,
    /// Adopted instances of expiring apps at time 0: (app, node).
    pub adopted: Vec<(usize, usize)>,
}

/// Nodes, apps, and the expiring apps already placed at time 0 (their removal height at
/// mid-run; half of them renewed at 30 % of the run).
pub(crate) fn setup(config: &SimConfig, rng: &mut ChaCha8Rng) -> Setup {
    let (infos, mut demands) = match config.shape {
        Shape::Census => (
            workload::nodes(config.nodes, config.seed, |i| i.to_string()),
            workload::apps(
                config.apps,
                config.seed ^ 0x5eed,
                GENESIS_HEIGHT - 1_000..GENESIS_HEIGHT,
            ),
        ),
        Shape::Testbed { instances } => (
            testbed::nodes(config.nodes, config.seed, |i| i.to_string()),
            testbed::apps(config.apps, instances, GENESIS_HEIGHT - 1),
        ),
    };
    let mut order: Vec<usize> = (0..demands.len()).collect();
    order.shuffle(rng);
    let k = ((demands.len() as f64 * config.expiring_share).round() as usize).min(demands.len());
    let mut expiring: Vec<usize> = order[..k].to_vec();
    expiring.sort_unstable();
    let removal_at = GENESIS_HEIGHT + config.duration_s / 2 / 30;
    for &i in &expiring {
        // removal = height + expire + grace = removal_at
        demands[i].expire = DEFAULT_EXPIRE;
        demands[i].height = removal_at - u64::from(DEFAULT_EXPIRE) - GRACE_BLOCKS;
    }
    let renewed: BTreeSet<usize> = expiring.iter().copied().step_by(2).collect();
    // Place the expiring apps as they were before they expired (no height: placeable).
    let pre: Vec<AppDemand> = expiring.iter().map(|&i| demands[i].clone()).collect();
    let mut adopted = Vec::new();
    if let Ok(out) = schedule(&infos, &pre, &[], &Params::default()) {
        let app_of: BTreeMap<&str, usize> = expiring
            .iter()
            .map(|&i| (demands[i].name.as_str(), i))
            .collect();
        for p in &out.placements {
            for n in &p.nodes {
                if let (Some(&a), Ok(node)) = (app_of.get(p.app.as_str()), n.parse::<usize>()) {
                    adopted.push((a, node));
                }
            }
        }
    }
    let params = Params::default();
    let infeasible = demands
        .iter()
        .filter(|d| {
            infos
                .iter()
                .filter(|n| crate::eligibility::check(d, n, n.free(), false, &params).is_ok())
                .count()
                < d.instances as usize
        })
        .count();
    Setup {
        infeasible,
        infos,
        demands,
        expiring,
        renewed,
        adopted,
    }
}

/// Apps with fewer eligible live nodes (constraints, uptime, capacity on an empty
/// network) than instances.
pub(crate) fn infeasible(infos: &[NodeInfo], alive: &[bool], records: &[Arc<AppRecord>]) -> usize {
    let params = Params::default();
    records
        .iter()
        .filter(|r| {
            infos
                .iter()
                .zip(alive)
                .filter(|(n, a)| {
                    **a && crate::eligibility::check(&r.demand, n, n.free(), false, &params).is_ok()
                })
                .count()
                < r.demand.instances as usize
        })
        .count()
}
