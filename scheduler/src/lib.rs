//! Pure placement logic for fluxnode: no I/O, no clock, no async runtime. `now` (a block
//! height) is always an argument, so every decision is a function of its inputs and every
//! node that sees the same inputs computes the same winners.
//!
//! # Semantics
//!
//! **Eligible** ([`eligibility`]). A node may take a new instance of an app when, checked
//! in this order:
//! 1. the app fits some tier at all (its per-instance totals within the Stratus caps);
//! 2. the app's `nodes` list is empty or names the node (by id, or by the host part of a
//!    `host:port` id) — the owner's explicit choice overrides everything else;
//! 3. the app's geolocation entries admit the node's `CONT_CC_REGION` (prefix match on
//!    whole segments; a deny entry always wins; see `proto::geo`);
//! 4. the node's tier is at least [`proto::tier::Tier::required_for`] the app's totals —
//!    FluxOS's rule, so an app never lands on a node class its owner did not pay for;
//! 5. the node's observed uptime is at least [`Params::min_uptime`] (default 0.9);
//! 6. the node does not already run the app — two instances on one host defeat the
//!    purpose of replicas;
//! 7. its free capacity — total − system reserve (1 core, 2,000 MB, 60 GB) − used −
//!    what this batch already placed there — covers the app's totals. CPU is counted in
//!    exact millicores so sums of 0.1-core components never drift.
//!
//! **Spread first** ([`spread`]). Winners cover as many distinct continents as the
//! eligible set allows, then as many countries, then as many regions: with N instances
//! and at least N eligible countries no two winners share a country. Replicas exist to
//! survive failures, and failures are correlated by place (a provider, a national
//! network, a power grid); the census in `data/` shows why this matters — 64 % of
//! Flux nodes sit in four countries, and a quality-only rule would put most apps there.
//!
//! **Then quality and load** ([`ranking`]). Among equally spread choices, the higher
//! quality class wins (`1 + floor(log₂ quality)`, quality = `round(uptime × 10⁴) ×
//! round(bench_score × 10²)`, all integers so float noise cannot flip an order), then the
//! larger free share of CPU and RAM (Kubernetes' LeastAllocated), so comparable nodes
//! share apps; equal scores break on the first 8 bytes of SHA-256(app ‖ 0x00 ‖ node id),
//! so identical nodes share the load across apps instead of the lowest id winning
//! everything; equal hashes fall back to the smaller id.
//!
//! **Batch** ([`batch`]). Apps are placed in registration-height order, then by name:
//! older registrations get first pick of scarce capacity, and input order never matters.
//! Each placement consumes the capacity it uses before the next app is considered.
//! Node `used` figures are taken to include the listed running instances (set
//! [`Params::running_counted_in_used`] to false when they do not).
//!
//! **Reconcile** ([`reconcile`]). Given the running instances: those on nodes that no
//! longer satisfy the app's fixed constraints stop; if more remain than wanted, the
//! keepers are chosen by the same spread-then-quality rule and the rest stop; if fewer,
//! all are kept (no churn) and the missing ones are placed with the kept ones counted as
//! already covering their places.
//!
//! **Expiry** ([`expiry`]). expiry = last registration/renewal height + `expire`
//! (default 88,000); removal = expiry + 2,640 (22 h of 30 s blocks). With
//! [`Params::height`] set, expired apps get no new instances and removable apps have every
//! instance stopped.
//!
//! **Explain** ([`mod@explain`]). For an app and a node: the eligibility failure, or the
//! winner that outranked it and at which spread level.
//!
//! # Determinism
//!
//! Node and app lists are brought into canonical orders (places by location string,
//! nodes by score and id, apps by height and name) and every tie is broken by the hash
//! rule above; duplicate node ids or app names are refused ([`InputError`]) because any
//! answer for them would depend on input order.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod batch;
pub mod contract;
pub mod eligibility;
pub mod expiry;
pub mod explain;
pub mod fasthash;
mod from_spec;
pub mod index;
pub mod invariants;
pub mod ledger;
pub mod model;
pub mod protocol;
pub mod ranking;
pub mod reconcile;
pub mod sim;
pub mod spread;

pub use batch::{AppOutcome, Batch, InputError};
pub use contract::{
    FieldError, NodeRecord, NodesError, Placement, ScheduleOutput, Stop, Unplaced, parse_nodes,
};
pub use eligibility::Ineligible;
pub use explain::{Explanation, explain};
pub use model::{AppDemand, Capacity, NodeInfo, Params, Running};

/// Runs a whole batch: which running instances stay or stop, and where missing
/// instances go. A pure function of its inputs; their order does not matter.
pub fn schedule(
    nodes: &[NodeInfo],
    apps: &[AppDemand],
    running: &[Running],
    params: &Params,
) -> Result<ScheduleOutput, InputError> {
    let mut batch = Batch::new(nodes, apps, running, params)?;
    let mut out = ScheduleOutput::default();
    let id = |n: u32| {
        nodes
            .get(n as usize)
            .map(|n| n.id.clone())
            .unwrap_or_default()
    };
    while let Some(o) = batch.step() {
        let name = apps.get(o.app).map(|a| a.name.clone()).unwrap_or_default();
        out.placements.push(Placement {
            app: name.clone(),
            nodes: o.placed.iter().map(|p| id(p.node)).collect(),
            keep: o.kept.iter().map(|&n| id(n)).collect(),
        });
        out.stop.extend(o.stopped.iter().map(|(n, why)| Stop {
            app: name.clone(),
            node: id(*n),
            reason: why.to_string(),
        }));
        if o.missing > 0 {
            out.unplaced.push(Unplaced {
                app: name,
                missing: o.missing,
                reason: o.reason.unwrap_or_default(),
            });
        }
    }
    out.stop
        .sort_by(|a, b| (&a.app, &a.node).cmp(&(&b.app, &b.node)));
    Ok(out)
}
