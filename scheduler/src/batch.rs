//! Placing many apps at once, each placement consuming the capacity it uses.
//!
//! Apps are processed in a canonical order — registration height, then name — so the
//! oldest registration gets first pick of scarce capacity and the result never depends
//! on the order of the input lists. For each app: decide which running instances stay
//! ([`crate::reconcile`]), then place the missing ones on the best spread of eligible
//! nodes ([`crate::spread`]) and subtract their demand from those nodes' free capacity.
//! Capacity freed by stopped instances is not reused in the same batch: the stop has not
//! happened yet, and the node will report the freed room in its next announcement.

use crate::eligibility::{Ineligible, check};
use crate::expiry::{expiry_height, is_expired, is_removable, removal_height};
use crate::fasthash::{FxHashMap, SortedIds, map_with_capacity};
use crate::index::{NodeIndex, candidates_from};
use crate::model::{AppDemand, Capacity, NodeInfo, Params, Running};
use crate::ranking::Ranker;
use crate::reconcile::{KeepDecision, StopReason, decide_keep};
use crate::spread::{Candidates, Pick, Place, select};

/// Inputs the scheduler refuses because any answer would depend on input order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("node id {0:?} appears more than once in the node list; node ids must be unique")]
    DuplicateNode(String),
    #[error("app name {0:?} appears more than once in the app list; app names must be unique")]
    DuplicateApp(String),
}

/// What the batch decided for one app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppOutcome {
    /// Index of the app in the input list.
    pub app: usize,
    /// Running instances kept, by node index.
    pub kept: Vec<u32>,
    /// New instances, by node index, in pick order, with the pass that picked each.
    pub placed: Vec<Pick>,
    /// Running instances to stop, by node index.
    pub stopped: Vec<(u32, StopReason)>,
    /// Instances still missing after this batch.
    pub missing: u32,
    /// Why instances are missing, when they are.
    pub reason: Option<String>,
}

/// A batch in progress. [`crate::schedule`] runs it to the end; [`crate::explain()`] steps
/// it to the app in question to see the capacity that app met.
#[derive(Debug)]
pub struct Batch<'a> {
    nodes: &'a [NodeInfo],
    apps: &'a [AppDemand],
    params: &'a Params,
    order: Vec<usize>,
    next: usize,
    index: NodeIndex,
    /// Per app: distinct node indices running it.
    running: Vec<Vec<u32>>,
    /// `stamp[node] == app + 1` while placing `app` marks the nodes running it.
    stamp: Vec<u32>,
    cands: Candidates,
}

impl<'a> Batch<'a> {
    pub fn new(
        nodes: &'a [NodeInfo],
        apps: &'a [AppDemand],
        running: &[Running],
        params: &'a Params,
    ) -> Result<Self, InputError> {
        let node_id = |i: u32| nodes.get(i as usize).map_or("", |n| n.id.as_str());
        let node_ids = SortedIds::new(nodes.iter().map(|n| n.id.as_str()));
        if let Some(i) = node_ids.duplicate(node_id) {
            return Err(InputError::DuplicateNode(node_id(i).to_string()));
        }
        let mut app_names: FxHashMap<&str, usize> = map_with_capacity(apps.len());
        for (i, a) in apps.iter().enumerate() {
            if app_names.insert(a.name.as_str(), i).is_some() {
                return Err(InputError::DuplicateApp(a.name.clone()));
            }
        }
        let mut order: Vec<usize> = (0..apps.len()).collect();
        order.sort_by(|&a, &b| {
            (apps[a].height, &apps[a].name).cmp(&(apps[b].height, &apps[b].name))
        });
        // Instances on unknown nodes are treated as gone; of unknown apps, as not ours.
        let mut per_app: Vec<Vec<u32>> = vec![Vec::new(); apps.len()];
        for r in running {
            if let (Some(&a), Some(n)) = (
                app_names.get(r.app.as_str()),
                node_ids.get(&r.node, node_id),
            ) {
                per_app[a].push(n);
            }
        }
        for list in &mut per_app {
            list.sort_unstable();
            list.dedup();
        }
        let smallest = apps
            .iter()
            .map(|a| Capacity::from(a.resources))
            .reduce(Capacity::min)
            .unwrap_or_default();
        let mut index = NodeIndex::new(nodes, params, smallest);
        if !params.running_counted_in_used {
            for (a, list) in per_app.iter().enumerate() {
                let demand = Capacity::from(apps[a].resources);
                for &n in list {
                    index.consume(nodes, n as usize, demand);
                }
            }
        }
        Ok(Self {
            nodes,
            apps,
            params,
            order,
            next: 0,
            index,
            running: per_app,
            stamp: vec![0; nodes.len()],
            cands: Candidates::default(),
        })
    }

    /// The index of the app the next [`Batch::step`] will handle.
    pub fn peek(&self) -> Option<usize> {
        self.order.get(self.next).copied()
    }

    /// Current free capacity of a node (after the placements made so far).
    pub fn free(&self, node: usize) -> Capacity {
        self.index.free.get(node).copied().unwrap_or_default()
    }

    /// Node indices running an app, as given.
    pub fn running_of(&self, app: usize) -> &[u32] {
        self.running.get(app).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn places(&self) -> &[Place] {
        &self.index.places.node_place
    }

    pub fn scores(&self) -> &[u64] {
        &self.index.score
    }

    /// Handles the next app in batch order.
    pub fn step(&mut self) -> Option<AppOutcome> {
        let a = self.peek()?;
        self.next += 1;
        Some(self.place(a))
    }

    fn place(&mut self, a: usize) -> AppOutcome {
        let app = &self.apps[a];
        let nodes = self.nodes;
        let running = std::mem::take(&mut self.running[a]);
        let ranker = Ranker::new(&app.name);
        let mut outcome = AppOutcome {
            app: a,
            kept: Vec::new(),
            placed: Vec::new(),
            stopped: Vec::new(),
            missing: 0,
            reason: None,
        };
        if let Some(now) = self.params.height
            && is_removable(app.height, app.expire, now)
        {
            let removal_height = removal_height(app.height, app.expire);
            outcome.stopped = running
                .iter()
                .map(|&n| (n, StopReason::Removed { removal_height }))
                .collect();
            self.running[a] = running;
            return outcome;
        }
        let KeepDecision { kept, stopped } = decide_keep(
            app,
            &running,
            nodes,
            &self.index.places.node_place,
            &self.index.score,
            &ranker,
            &mut self.cands,
        );
        let need = (app.instances as usize).saturating_sub(kept.len());
        outcome.kept = kept;
        outcome.stopped = stopped;
        if need == 0 {
            self.running[a] = running;
            return outcome;
        }
        let expired = self
            .params
            .height
            .filter(|&now| is_expired(app.height, app.expire, now));
        let Some(required) = app.required_tier() else {
            outcome.missing = need as u32;
            outcome.reason = Some(Ineligible::AppTooLarge.to_string());
            self.running[a] = running;
            return outcome;
        };
        if expired.is_some() {
            outcome.missing = need as u32;
            outcome.reason = Some(format!(
                "app expired at height {}; expired apps get no new instances until renewed",
                expiry_height(app.height, app.expire)
            ));
            self.running[a] = running;
            return outcome;
        }
        let stamp = a as u32 + 1;
        for &n in &running {
            self.stamp[n as usize] = stamp;
        }
        let seed: Vec<Place> = outcome
            .kept
            .iter()
            .map(|&n| self.index.places.node_place[n as usize])
            .collect();
        let demand = Capacity::from(app.resources);
        let stamps = &self.stamp;
        let excluded = |i: u32| stamps[i as usize] == stamp;
        if app.nodes.is_empty() {
            let regions = self.index.collect(
                nodes,
                &app.geo,
                required,
                demand,
                1,
                &ranker,
                &excluded,
                &mut self.cands,
            );
            let uncovered = (0..self.cands.group_count())
                .filter(|&g| {
                    let region = self.cands.place(g).region;
                    !seed.iter().any(|p| p.region == region)
                })
                .count();
            if need > uncovered && regions > 0 {
                self.index.collect(
                    nodes,
                    &app.geo,
                    required,
                    demand,
                    need,
                    &ranker,
                    &excluded,
                    &mut self.cands,
                );
            }
        } else {
            let mut list: Vec<u32> = (0..nodes.len() as u32)
                .filter(|&i| {
                    check(
                        app,
                        &nodes[i as usize],
                        self.index.free[i as usize],
                        excluded(i),
                        self.params,
                    )
                    .is_ok()
                })
                .collect();
            candidates_from(
                &mut list,
                &self.index.places.node_place,
                &self.index.score,
                nodes,
                &ranker,
                &mut self.cands,
            );
        }
        let score = &self.index.score;
        select(
            &mut self.cands,
            &seed,
            need,
            |x, y| {
                ranker.cmp(
                    score[x as usize],
                    &nodes[x as usize].id,
                    score[y as usize],
                    &nodes[y as usize].id,
                )
            },
            &mut outcome.placed,
        );
        if outcome.placed.len() < need {
            outcome.missing = (need - outcome.placed.len()) as u32;
            outcome.reason = Some(self.summarise_shortfall(a, need, outcome.placed.len()));
        }
        for p in &outcome.placed {
            self.index.consume(self.nodes, p.node as usize, demand);
        }
        self.running[a] = running;
        outcome
    }

    /// Counts why the other nodes could not host the app, for the `unplaced` reason.
    fn summarise_shortfall(&self, a: usize, need: usize, placed: usize) -> String {
        let app = &self.apps[a];
        let stamp = a as u32 + 1;
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let running = self.stamp[i] == stamp;
            if let Err(why) = check(app, n, self.index.free[i], running, self.params) {
                let label = why.label();
                match counts.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((label, 1)),
                }
            }
        }
        counts.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
        let detail: Vec<String> = counts.iter().map(|(l, c)| format!("{c} {l}")).collect();
        let detail = if detail.is_empty() {
            "no nodes given".to_string()
        } else {
            detail.join(", ")
        };
        format!(
            "only {placed} eligible node(s) for {need} missing instance(s); of the {} nodes, \
             ineligible: {detail}",
            self.nodes.len()
        )
    }
}
