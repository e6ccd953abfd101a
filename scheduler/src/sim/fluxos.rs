//! The `fluxos` strategy: FluxOS's own placement behaviour, for comparison on the same
//! scenario. Modelled after FluxOS's `trySpawningGlobalApplication` and
//! `checkAndRemoveApplicationInstance`:
//!
//! - every node, every [`TRY_EVERY`], picks a random app that its location table shows
//!   below its instance count (running + installing records) and that it can host;
//! - it broadcasts an "installing" claim, waits [`CLAIM_WAIT`] (FluxOS's 90 s), recounts
//!   the running records, and installs when the app is still short;
//! - a running node broadcasts its location; records live [`RECORD_TTL`] (125 min) after
//!   the last report (re-broadcast every [`REPORT_EVERY`]), so a dead node's instances
//!   keep counting for two hours;
//! - every [`EXTRA_CHECK_EVERY`] a node running an app with more records than instances
//!   removes its instance when it is the newest;
//! - expired apps are removed at expiry + grace, checked on the same timer;
//! - an updated app (`--update`) is redeployed by each host on its own, at one of its
//!   checks every 8–18 minutes ([`super::update::FluxosRedeploy`]).
//!
//! The location table is gossip-replicated; the simulator keeps one copy per partition
//! side (a broadcast reaches the sender's side only while partitioned), and nodes read
//! their side's copy. Message costs count one delivery per receiving node.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SimConfig;
use super::net::{Net, Queue};
use super::report::{ExpiryReport, Invariants, SimReport, Traffic};
use super::scenario::{GENESIS_HEIGHT, setup};
use super::tracker::{Tracker, digest};
use super::update::{Check, FluxosRedeploy, pick, version_for};
use crate::eligibility::check_static;
use crate::expiry::{BLOCK_SECONDS, DEFAULT_EXPIRE, expiry_height, removal_height};
use crate::model::{AppDemand, Capacity};
use crate::protocol::Millis;

/// How often a node tries to spawn an under-replicated app (FluxOS retries its spawn
/// loop every few minutes; 2 min is a generous reading that favours FluxOS).
pub const TRY_EVERY: Millis = 120_000;
/// FluxOS waits this long after its "installing" broadcast before recounting.
pub const CLAIM_WAIT: Millis = 90_000;
/// An installing claim counts for this long unless replaced by a running record.
pub const CLAIM_TTL: Millis = 5 * 60_000;
/// Location records expire 125 min after the last report (FluxOS).
pub const RECORD_TTL: Millis = 125 * 60_000;
/// Running nodes re-broadcast their locations this often.
pub const REPORT_EVERY: Millis = 60 * 60_000;
/// How often a node checks for its own extra instances and for expiry.
pub const EXTRA_CHECK_EVERY: Millis = 60_000;
const WIRE_BYTES: u64 = 110 + 64;

#[derive(Default, Clone)]
struct Table {
    /// app → node → (started at, last report)
    running: Vec<BTreeMap<u32, (Millis, Millis)>>,
    /// app → node → claim time
    claims: Vec<BTreeMap<u32, Millis>>,
}

impl Table {
    fn count(&self, app: usize, now: Millis) -> usize {
        let r = self.running[app]
            .values()
            .filter(|(_, seen)| now < seen + RECORD_TTL)
            .count();
        let c = self.claims[app]
            .iter()
            .filter(|(n, t)| now < *t + CLAIM_TTL && !self.running[app].contains_key(n))
            .count();
        r + c
    }

    fn running_count(&self, app: usize, now: Millis) -> usize {
        self.running[app]
            .values()
            .filter(|(_, seen)| now < seen + RECORD_TTL)
            .count()
    }
}

enum Ev {
    Try(u32),
    Recount {
        node: u32,
        app: usize,
    },
    Started {
        node: u32,
        app: usize,
        ok: bool,
    },
    /// A broadcast lands on the tables: running (Some(start)) / gone (None) / claim.
    Record {
        from: u32,
        app: usize,
        kind: Rec,
    },
    Check(u32),
    Register(usize),
    Renew(usize),
    RemovalDue(usize),
    Kill,
    Heal,
    HealCheck,
    Sample,
    /// `--update`: the owners of the chosen apps publish a new spec.
    Update,
    /// A host compares its instance of an updated app with the latest spec.
    RedeployCheck {
        node: u32,
        app: usize,
    },
    /// A redeploy's new containers are up (or failed to start).
    Redeployed {
        node: u32,
        app: usize,
        ok: bool,
    },
}

#[derive(Clone, Copy)]
enum Rec {
    Running(Millis),
    Gone,
    Claim,
}

pub(crate) fn run(config: &SimConfig) -> SimReport {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let s = setup(config, &mut rng);
    let mut net = Net::new(config, &mut rng);
    let n = s.infos.len();
    let m = s.demands.len();
    let reserve = Capacity::from(proto::tier::SYSTEM_RESERVE);
    let offered: Vec<Capacity> = s
        .infos
        .iter()
        .map(|i| {
            Capacity::from(i.total)
                .saturating_sub(reserve)
                .saturating_sub(Capacity::from(i.used))
        })
        .collect();
    let mut used = vec![Capacity::ZERO; n];
    // node → app → running?
    let mut rt: Vec<BTreeMap<usize, bool>> = vec![BTreeMap::new(); n];
    let empty = Table {
        running: vec![BTreeMap::new(); m],
        claims: vec![BTreeMap::new(); m],
    };
    let mut tables = [empty.clone(), empty];
    let mut demands: Vec<AppDemand> = s.demands.clone();
    let mut registered = vec![false; m];
    let mut tracker = Tracker::new(s.demands.iter().map(|d| d.instances));
    let mut inv = Invariants::default();
    let mut offsets = Vec::new();
    let mut red = FluxosRedeploy::new(m);
    let mut q: Queue<Ev> = Queue::new();
    let end = config.duration_s * 1_000;
    let height = |t: Millis| GENESIS_HEIGHT + t / (BLOCK_SECONDS * 1_000);

    for &a in &s.expiring {
        registered[a] = true;
        tracker.preexisting(a);
        tracker.set_placeable(a, false);
        let due = (removal_height(demands[a].height, demands[a].expire) - GENESIS_HEIGHT)
            * BLOCK_SECONDS
            * 1_000;
        q.push(due, Ev::RemovalDue(a));
        if s.renewed.contains(&a) {
            q.push(end * 3 / 10, Ev::Renew(a));
        }
    }
    for &(a, node) in &s.adopted {
        rt[node].insert(a, true);
        used[node] = used[node].saturating_add(Capacity::from(demands[a].resources));
        tracker.started(a, 0);
        for t in &mut tables {
            t.running[a].insert(node as u32, (0, 0));
        }
    }
    for i in 0..m {
        if !s.expiring.contains(&i) {
            q.push(
                rng.gen_range(0..=config.register_window_s * 1_000),
                Ev::Register(i),
            );
        }
    }
    for i in 0..n {
        q.push(rng.gen_range(0..TRY_EVERY), Ev::Try(i as u32));
        q.push(rng.gen_range(0..EXTRA_CHECK_EVERY), Ev::Check(i as u32));
    }
    if let Some(k) = config.kill {
        q.push(k.at_s * 1_000, Ev::Kill);
    }
    if let Some(u) = config.update {
        q.push(u.at_s * 1_000, Ev::Update);
    }
    if let Some(p) = config.partition {
        q.push(p.to_s * 1_000, Ev::Heal);
        q.push(p.to_s * 1_000 + 30_000, Ev::HealCheck);
    }
    q.push(0, Ev::Sample);
    let mut killed = 0;
    // Under-replicated apps per side, recomputed at most once per simulated second
    // (10,000 nodes each scanning 1,000 apps on every try would dominate the run).
    let mut under_cache: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let mut under_at: Option<Millis> = None;

    macro_rules! broadcast {
        ($from:expr, $app:expr, $kind:expr, $now:expr) => {{
            let alive = net.alive.iter().filter(|&&a| a).count() as u64;
            net.count(alive.saturating_sub(1), WIRE_BYTES);
            let at = $now + net.delay(&mut rng);
            q.push(
                at,
                Ev::Record {
                    from: $from,
                    app: $app,
                    kind: $kind,
                },
            );
        }};
    }

    while let Some((now, ev)) = q.pop() {
        if now > end {
            break;
        }
        match ev {
            Ev::Register(a) => {
                registered[a] = true;
                tracker.register(a, now, true);
            }
            Ev::Renew(a) => {
                demands[a].height = height(now);
                demands[a].expire = DEFAULT_EXPIRE;
                tracker.set_placeable(a, true);
            }
            Ev::RemovalDue(a) => {
                if !s.renewed.contains(&a) {
                    tracker.set_gone(a);
                }
            }
            Ev::Try(i) => {
                let ni = i as usize;
                if !net.alive[ni] {
                    continue;
                }
                q.push(now + TRY_EVERY, Ev::Try(i));
                if under_at.is_none_or(|t| now >= t + 1_000) {
                    under_at = Some(now);
                    let h = height(now);
                    for (side, t) in tables.iter().enumerate() {
                        under_cache[side] = (0..m)
                            .filter(|&a| {
                                registered[a]
                                    && h < expiry_height(demands[a].height, demands[a].expire)
                                    && t.count(a, now) < demands[a].instances as usize
                            })
                            .collect();
                    }
                }
                let mut under: Vec<usize> = under_cache[usize::from(net.side[ni])]
                    .iter()
                    .copied()
                    .filter(|a| !rt[ni].contains_key(a))
                    .collect();
                under.shuffle(&mut rng);
                let free = offered[ni].saturating_sub(used[ni]);
                let pick = under.into_iter().find(|&a| {
                    check_static(&demands[a], &s.infos[ni]).is_ok()
                        && Capacity::from(demands[a].resources).fits_within(&free)
                });
                if let Some(a) = pick {
                    broadcast!(i, a, Rec::Claim, now);
                    q.push(now + CLAIM_WAIT, Ev::Recount { node: i, app: a });
                }
            }
            Ev::Recount { node, app } => {
                let ni = node as usize;
                if !net.alive[ni] || rt[ni].contains_key(&app) {
                    continue;
                }
                let t = &tables[usize::from(net.side[ni])];
                let free = offered[ni].saturating_sub(used[ni]);
                let cap = Capacity::from(demands[app].resources);
                if t.running_count(app, now) < demands[app].instances as usize
                    && cap.fits_within(&free)
                {
                    rt[ni].insert(app, false);
                    red.installing(node, app);
                    used[ni] = used[ni].saturating_add(cap);
                    let (lo, hi) = config.start_ms;
                    let ok = !rng.gen_bool(config.start_failure.clamp(0.0, 1.0));
                    q.push(
                        now + rng.gen_range(lo..=hi.max(lo)),
                        Ev::Started { node, app, ok },
                    );
                }
            }
            Ev::Started { node, app, ok } => {
                let ni = node as usize;
                if !net.alive[ni] || rt[ni].get(&app) != Some(&false) {
                    continue;
                }
                if ok {
                    rt[ni].insert(app, true);
                    tracker.started(app, now);
                    red.started(node, app, now);
                    broadcast!(node, app, Rec::Running(now), now);
                } else {
                    rt[ni].remove(&app);
                    red.removed(node, app, false, now);
                    used[ni] = used[ni].saturating_sub(Capacity::from(demands[app].resources));
                }
            }
            Ev::Record { from, app, kind } => {
                let fi = from as usize;
                for (side, t) in tables.iter_mut().enumerate() {
                    if net.partitioned(now) && usize::from(net.side[fi]) != side {
                        continue;
                    }
                    match kind {
                        Rec::Running(start) => {
                            t.running[app].insert(from, (start, now));
                            t.claims[app].remove(&from);
                        }
                        Rec::Gone => {
                            t.running[app].remove(&from);
                        }
                        Rec::Claim => {
                            t.claims[app].insert(from, now);
                        }
                    }
                }
            }
            Ev::Check(i) => {
                let ni = i as usize;
                if !net.alive[ni] {
                    continue;
                }
                q.push(now + EXTRA_CHECK_EVERY, Ev::Check(i));
                let side = usize::from(net.side[ni]);
                let h = height(now);
                let apps: Vec<usize> = rt[ni]
                    .iter()
                    .filter(|(_, r)| **r)
                    .map(|(&a, _)| a)
                    .collect();
                for a in apps {
                    let removal = removal_height(demands[a].height, demands[a].expire);
                    let t = &tables[side];
                    let newest = t.running[a]
                        .iter()
                        .filter(|(_, (_, seen))| now < seen + RECORD_TTL)
                        .max_by_key(|(n, (start, _))| (*start, **n))
                        .map(|(n, _)| *n);
                    let extra = t.running_count(a, now) > demands[a].instances as usize
                        && newest == Some(i);
                    let expired = h >= removal;
                    if expired || extra {
                        if expired && s.expiring.contains(&a) {
                            offsets.push(h as i64 - removal as i64);
                        }
                        rt[ni].remove(&a);
                        used[ni] = used[ni].saturating_sub(Capacity::from(demands[a].resources));
                        tracker.stopped(a, now);
                        red.removed(i, a, true, now);
                        broadcast!(i, a, Rec::Gone, now);
                    } else if now >= REPORT_EVERY
                        && t.running[a]
                            .get(&i)
                            .is_some_and(|(_, seen)| now - seen >= REPORT_EVERY)
                    {
                        let start = t.running[a].get(&i).map_or(now, |(s, _)| *s);
                        broadcast!(i, a, Rec::Running(start), now);
                    }
                }
            }
            Ev::Kill => {
                let Some(k) = config.kill else { continue };
                tracker.begin_kill(now);
                let mut order: Vec<usize> = (0..n).collect();
                order.shuffle(&mut rng);
                killed = ((n as f64 * k.percent / 100.0).round() as usize).min(n - 1);
                for &i in &order[..killed] {
                    net.alive[i] = false;
                    for (&a, &running) in &rt[i] {
                        if running {
                            tracker.stopped(a, now);
                        }
                        red.removed(i as u32, a, running, now);
                    }
                    rt[i].clear();
                }
            }
            Ev::Heal => tracker.partition.apps_above_n_at_heal = tracker.above().0,
            Ev::HealCheck => {
                let (apps, extra) = tracker.above();
                tracker.partition.apps_above_n_30s_after_heal = apps;
                tracker.partition.extra_instances_30s_after_heal = extra;
            }
            Ev::Sample => {
                tracker.advance(now);
                q.push(now + 100, Ev::Sample);
            }
            Ev::Update => {
                let Some(u) = config.update else { continue };
                let chosen = pick(m, u.apps, |a| !s.expiring.contains(&a) && tracker.at_n(a));
                for (k, &a) in chosen.iter().enumerate() {
                    let (n, serving) = (demands[a].instances, tracker.running(a));
                    red.roll.begin(a, n, version_for(now, k), serving, now);
                }
                // FluxOS has no rollout: every host of the app checks on its own.
                for (i, r) in rt.iter().enumerate() {
                    for &a in chosen.iter().filter(|a| net.alive[i] && r.contains_key(a)) {
                        let at = FluxosRedeploy::next_check(now, &mut rng);
                        q.push(
                            at,
                            Ev::RedeployCheck {
                                node: i as u32,
                                app: a,
                            },
                        );
                    }
                }
            }
            Ev::RedeployCheck { node, app } => {
                let ni = node as usize;
                if !net.alive[ni] {
                    continue;
                }
                let state = rt[ni].get(&app).copied();
                let starts = (config.start_ms, config.start_failure);
                match red.check(node, app, state, now, starts, &mut rng) {
                    Check::Stop => {}
                    Check::Again(at) => q.push(at, Ev::RedeployCheck { node, app }),
                    // Stop, remove the container and the image, pull, start: down until then.
                    Check::Redeploy { back_at, ok } => {
                        rt[ni].insert(app, false);
                        tracker.stopped(app, now);
                        q.push(back_at, Ev::Redeployed { node, app, ok });
                    }
                }
            }
            Ev::Redeployed { node, app, ok } => {
                let ni = node as usize;
                if !net.alive[ni] || !red.is_down(node, app) || rt[ni].get(&app) != Some(&false) {
                    continue;
                }
                red.back(node, app, ok, now);
                if ok {
                    rt[ni].insert(app, true);
                    tracker.started(app, now);
                    broadcast!(node, app, Rec::Running(now), now);
                } else {
                    // A failed install removes the app from the node, and its location.
                    rt[ni].remove(&app);
                    used[ni] = used[ni].saturating_sub(Capacity::from(demands[app].resources));
                    broadcast!(node, app, Rec::Gone, now);
                }
            }
        }
    }
    tracker.advance(end);
    for (i, r) in rt.iter().enumerate() {
        let held = r.keys().fold(Capacity::ZERO, |acc, &a| {
            acc.saturating_add(Capacity::from(demands[a].resources))
        });
        if !held.fits_within(&offered[i]) {
            inv.capacity_overcommits += 1;
        }
    }
    let (time_to_n_s, never_reached_n) = tracker.time_to_n();
    let (over, under) = tracker.over_under_seconds();
    let secs = config.duration_s.max(1) as f64;
    let lines: Vec<(String, String)> = rt
        .iter()
        .enumerate()
        .filter(|(i, _)| net.alive[*i])
        .flat_map(|(i, r)| {
            r.iter()
                .filter(|(_, run)| **run)
                .map(move |(&a, _)| (format!("app{a:04}"), i.to_string()))
        })
        .collect();
    let renewed_kept = s
        .renewed
        .iter()
        .filter(|&&a| tracker.running(a) == demands[a].instances)
        .count();
    let not_removed = s
        .expiring
        .iter()
        .filter(|a| !s.renewed.contains(a) && tracker.running(**a) > 0)
        .count();
    let partition = config.partition.map(|_| {
        let mut p = tracker.partition.clone();
        p.apps_above_n_at_end = tracker.above().0;
        p
    });
    SimReport {
        config: config.clone(),
        infeasible_apps: s.infeasible,
        time_to_n_s,
        never_reached_n,
        over_assigned_app_seconds: over,
        under_assigned_app_seconds: under,
        kill: tracker.kill_report(killed),
        // FluxOS has no health probes: an unhealthy instance stays until its owner acts.
        unhealthy: None,
        partition,
        traffic: Traffic {
            messages_per_node_per_s: net.messages as f64 / n.max(1) as f64 / secs,
            bytes_per_node_per_s: net.bytes as f64 / n.max(1) as f64 / secs,
        },
        expiry: ExpiryReport {
            expiring_apps: s.expiring.len(),
            renewed_apps: s.renewed.len(),
            removals: offsets.len(),
            offset_blocks_min: offsets.iter().copied().min().unwrap_or(0),
            offset_blocks_max: offsets.iter().copied().max().unwrap_or(0),
            renewed_kept,
            not_removed,
        },
        final_state: {
            let mut f = tracker.final_state(|i| format!("app{i:04}"));
            f.distinct_hosts = lines
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            f
        },
        faults: Default::default(),
        invariants: inv,
        ledger: super::LedgerReport::default(),
        digest: digest(lines),
        events: q.popped,
        trace: Vec::new(),
        update: config
            .update
            .map(|_| red.roll.report(|a| format!("app{a:04}"))),
    }
}
