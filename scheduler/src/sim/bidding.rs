//! The `bidding` strategy: every node runs [`crate::protocol::Node`].

mod rollout;
mod runtime;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SimConfig;
use super::faults::{self, FaultReport};
use super::ledgers::{Ledgers, RECONNECT_MS, RESYNC_EVERY, SYNC_PEERS};

/// Follow-up exchanges after a batch while a pair's digests still differ: at 5 % loss
/// three more leave an action missing with odds of about 1 in 160,000.
const SYNC_FOLLOW_UPS: u8 = 3;
use super::net::{Net, Queue};
use super::report::{ExpiryReport, FinalState, Invariants, LedgerReport, SimReport, Traffic};
use super::scenario::{GENESIS_HEIGHT, Setup, infeasible, setup};
use super::tracker::{Tracker, digest};
use super::update::Rollouts;
use crate::expiry::{DEFAULT_EXPIRE, removal_height};
use crate::ledger::{Action, OwnerOp};
use crate::model::{Capacity, NodeInfo};
use crate::protocol::{AppRecord, ChainClock, Input, Millis, Msg, Node, NodeConfig, Output, TICK};

/// Over/under-assignment is integrated at this resolution.
const SAMPLE_EVERY: Millis = 100;
/// Node invariants are checked this often.
const CHECK_EVERY: Millis = 10_000;

enum Ev {
    Deliver {
        to: u32,
        from: u32,
        msg: Msg<u32>,
    },
    Broadcast {
        from: u32,
        msg: Msg<u32>,
    },
    Tick(u32),
    Done {
        node: u32,
        app: Arc<str>,
        ok: bool,
        generation: u64,
    },
    Register(usize),
    Renew(usize),
    /// An owner action gossiped by `from`, reaching every node it can reach.
    Gossip {
        from: u32,
        action: Action<()>,
    },
    /// Actions anti-entropy sends `to`.
    SyncBatch {
        to: u32,
        from: u32,
        actions: Vec<Action<()>>,
        /// Exchanges left in this pair's chain (see [`Sim::exchange`]).
        hops: u8,
    },
    /// A node's periodic summary exchange.
    Resync(u32),
    /// A node reconnects to peers of the other side after a heal.
    Reconnect(u32),
    RemovalDue(usize),
    Kill,
    KillGroup,
    /// Peers take this dead node for dead (connections gone for `UNREACHABLE_AFTER`).
    Unreachable(u32),
    Unhealthy,
    GiveUp {
        node: u32,
        app: Arc<str>,
    },
    Heal,
    HealCheck,
    Sample,
    Check,
    Refresh,
    /// `--update`: the owners of the chosen apps publish a new spec.
    Update,
}

struct Instance {
    running: bool,
    generation: u64,
    /// Owner of the registration the node ran it for.
    owner: String,
    /// Resources it holds on its node.
    cap: Capacity,
    /// Spec version of its containers.
    version: u64,
    /// Started by a move to `version` (replacing containers of another version).
    moved: bool,
}

struct Sim<'c> {
    cfg: &'c SimConfig,
    rng: ChaCha8Rng,
    q: Queue<Ev>,
    net: Net,
    clock: ChainClock,
    lv: Ledgers,
    nodes: Vec<Node<u32>>,
    offered: Vec<Capacity>,
    rt: Vec<BTreeMap<Arc<str>, Instance>>,
    rt_used: Vec<Capacity>,
    generation: u64,
    records: Vec<Arc<AppRecord>>,
    /// A second owner's registration of the same name, for the conflicting apps.
    rivals: BTreeMap<usize, Arc<AppRecord>>,
    ledger: LedgerReport,
    app_index: BTreeMap<Arc<str>, usize>,
    tracker: Tracker,
    inv: Invariants,
    expiring: BTreeSet<usize>,
    renewed: BTreeSet<usize>,
    offsets: Vec<i64>,
    killed: usize,
    /// (node, app) given up, until when that node must not run the app again.
    held_off: BTreeMap<(usize, Arc<str>), Millis>,
    next_tick: Vec<Millis>,
    trace: Vec<String>,
    infos: Vec<NodeInfo>,
    /// Nodes on which every start fails (`config.faults.failing_nodes`).
    failing: Vec<bool>,
    /// Draws for the fault model, apart from `rng` so runs without faults are unchanged.
    fault_rng: ChaCha8Rng,
    fault: FaultReport,
    group_victims: Vec<usize>,
    /// `--update`: the rollouts of the updated apps.
    rollouts: Rollouts,
}

pub(crate) fn run(config: &SimConfig) -> SimReport {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let s = setup(config, &mut rng);
    let net = Net::new(config, &mut rng);
    let clock = ChainClock::new(GENESIS_HEIGHT, 0);
    let mut lv = Ledgers::new(&net.side, clock, config.node_ledgers);
    let reserve = Capacity::from(proto::tier::SYSTEM_RESERVE);
    let mut nodes = Vec::with_capacity(s.infos.len());
    let mut offered = Vec::with_capacity(s.infos.len());
    for (i, info) in s.infos.iter().enumerate() {
        lv.upsert_member(i as u32, info, 0);
        nodes.push(Node::new(NodeConfig {
            id: i as u32,
            total: info.total,
            base_used: info.used,
            phase: rng.gen_range(0..crate::protocol::ANNOUNCE_EVERY),
        }));
        offered.push(
            Capacity::from(info.total)
                .saturating_sub(reserve)
                .saturating_sub(Capacity::from(info.used)),
        );
    }
    let records: Vec<Arc<AppRecord>> = s
        .demands
        .iter()
        .map(|d| {
            Arc::new(AppRecord {
                name: Arc::from(d.name.as_str()),
                owner: "owner".into(),
                demand: d.clone(),
                spec_bytes: 1_200,
                ports: Vec::new(),
                version: 0,
            })
        })
        .collect();
    let app_index = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.clone(), i))
        .collect();
    let n = s.infos.len();
    // Conflicting registrations: a second owner registers the name of an app at the same
    // instant (during the partition when there is one).
    let mut candidates: Vec<usize> = (0..records.len())
        .filter(|i| !s.expiring.contains(i))
        .collect();
    // Only a run with conflicts draws from the RNG here: a run without them keeps the
    // random stream (and so the scenario of each seed) it had before conflicts existed.
    if config.conflicts > 0 {
        candidates.shuffle(&mut rng);
    }
    let rivals: BTreeMap<usize, Arc<AppRecord>> = candidates
        .into_iter()
        .take(config.conflicts)
        .map(|i| {
            let mut r = (*records[i]).clone();
            r.owner = "rival".into();
            r.spec_bytes += 100;
            (i, Arc::new(r))
        })
        .collect();
    let n_apps = records.len();
    let ledger = LedgerReport {
        views: lv.views.len(),
        conflicts: rivals.len(),
        ..LedgerReport::default()
    };
    let mut sim = Sim {
        cfg: config,
        rng,
        q: Queue::new(),
        net,
        clock,
        lv,
        nodes,
        offered,
        rt: (0..n).map(|_| BTreeMap::new()).collect(),
        rt_used: vec![Capacity::ZERO; n],
        generation: 0,
        tracker: Tracker::new(s.demands.iter().map(|d| d.instances)),
        records,
        rivals,
        ledger,
        app_index,
        inv: Invariants::default(),
        expiring: s.expiring.iter().copied().collect(),
        renewed: s.renewed.clone(),
        offsets: Vec::new(),
        killed: 0,
        held_off: BTreeMap::new(),
        next_tick: vec![0; n],
        trace: Vec::new(),
        infos: s.infos.clone(),
        failing: vec![false; n],
        fault_rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0xfa17),
        fault: FaultReport::default(),
        group_victims: Vec::new(),
        rollouts: Rollouts::new(n_apps),
    };
    sim.failing = faults::pick_failing(n, config.faults.failing_nodes, &mut sim.fault_rng);
    sim.fault.failing_nodes = config.faults.failing_nodes.min(n);
    sim.bootstrap(&s);
    sim.event_loop();
    let mut report = sim.report();
    report.infeasible_apps = s.infeasible;
    report
}

impl Sim<'_> {
    fn bootstrap(&mut self, s: &Setup) {
        let end = self.cfg.duration_s * 1_000;
        // Expiring apps: registered long ago, running, adopted by their hosts at start-up.
        for &a in &s.expiring {
            // Known to every node long before the run: in every ledger.
            let action = register_action(&self.records[a], 1);
            let height = self.clock.height(0);
            for g in 0..self.lv.ledgers.len() {
                let _ = self.lv.insert(g, action.clone(), height, 0);
            }
            self.tracker.preexisting(a);
            self.tracker.set_placeable(a, false);
            let due = self
                .clock
                .time_of(removal_height(s.demands[a].height, s.demands[a].expire));
            self.q.push(due, Ev::RemovalDue(a));
            if s.renewed.contains(&a) {
                self.q.push(end * 3 / 10, Ev::Renew(a));
            }
        }
        self.lv.refresh(0);
        for &(a, node) in &s.adopted {
            let app = self.records[a].name.clone();
            let outs = self.nodes[node].handle(
                Input::Adopt {
                    app: app.clone(),
                    version: 0,
                },
                0,
                self.lv.view_of(node),
            );
            let cap = Capacity::from(s.demands[a].resources);
            let version = self.nodes[node].version_of(&app).unwrap_or(0);
            self.rt[node].insert(
                app,
                Instance {
                    running: true,
                    generation: 0,
                    owner: self.records[a].owner.clone(),
                    cap,
                    version,
                    moved: false,
                },
            );
            self.rt_used[node] = self.rt_used[node].saturating_add(cap);
            self.tracker.started(a, 0);
            self.outputs(node as u32, outs, 0);
        }
        let conflict_window = match self.cfg.partition {
            Some(p) => p.from_s * 1_000..=(p.from_s * 1_000).max(p.to_s * 1_000 - 10_000),
            None => 0..=self.cfg.register_window_s * 1_000,
        };
        for i in 0..self.records.len() {
            if !self.expiring.contains(&i) {
                let window = if self.rivals.contains_key(&i) {
                    conflict_window.clone()
                } else {
                    0..=self.cfg.register_window_s * 1_000
                };
                let at = self.rng.gen_range(window);
                self.q.push(at, Ev::Register(i));
            }
        }
        for i in 0..self.nodes.len() {
            let at = self.rng.gen_range(0..TICK);
            self.next_tick[i] = at;
            self.q.push(at, Ev::Tick(i as u32));
            let at = self.rng.gen_range(0..RESYNC_EVERY);
            self.q.push(at, Ev::Resync(i as u32));
        }
        if let Some(k) = self.cfg.kill {
            self.q.push(k.at_s * 1_000, Ev::Kill);
        }
        if let Some(g) = self.cfg.faults.kill_group {
            self.q.push(g.at_s * 1_000, Ev::KillGroup);
        }
        if let Some(u) = self.cfg.unhealthy {
            self.q.push(u.at_s * 1_000, Ev::Unhealthy);
        }
        if let Some(u) = self.cfg.update {
            self.q.push(u.at_s * 1_000, Ev::Update);
        }
        if let Some(p) = self.cfg.partition {
            self.q.push(p.to_s * 1_000, Ev::Heal);
            self.q.push(p.to_s * 1_000 + 30_000, Ev::HealCheck);
        }
        self.q.push(0, Ev::Sample);
        self.q.push(CHECK_EVERY, Ev::Check);
        self.q.push(TICK, Ev::Refresh);
    }

    fn event_loop(&mut self) {
        let end = self.cfg.duration_s * 1_000;
        while let Some((now, ev)) = self.q.pop() {
            if now > end {
                break;
            }
            match ev {
                Ev::Deliver { to, from, msg } => {
                    let ti = to as usize;
                    if self.net.alive[ti] {
                        let outs = self.nodes[ti].handle(
                            Input::Message { from, msg: &msg },
                            now,
                            self.lv.view_of(ti),
                        );
                        self.outputs(to, outs, now);
                    }
                }
                Ev::Broadcast { from, msg } => self.broadcast(from, msg, now),
                Ev::Tick(i) => {
                    let ii = i as usize;
                    if self.net.alive[ii] {
                        let outs = self.nodes[ii].handle(Input::Tick, now, self.lv.view_of(ii));
                        self.outputs(i, outs, now);
                    }
                }
                Ev::Done {
                    node,
                    app,
                    ok,
                    generation,
                } => self.container_done(node, app, ok, generation, now),
                Ev::Register(a) => {
                    let from = self.random_alive();
                    self.tracker.register(a, now, true);
                    let action = register_action(&self.records[a], now + 1);
                    self.owner_action(from, action, now);
                    if let Some(rival) = self.rivals.get(&a).cloned() {
                        let other = self.rival_node(from, now);
                        self.owner_action(other, register_action(&rival, now + 1), now);
                    }
                }
                Ev::Renew(a) => {
                    let from = self.random_alive();
                    let op = OwnerOp::Renew {
                        app: self.records[a].name.clone(),
                        height: self.clock.height(now),
                        expire: DEFAULT_EXPIRE,
                    };
                    self.tracker.set_placeable(a, true);
                    let action = Action::unsigned(&self.records[a].owner, now + 2, op);
                    self.owner_action(from, action, now);
                }
                Ev::Gossip { from, action } => self.gossip(from, &action, now),
                Ev::SyncBatch {
                    to,
                    from,
                    actions,
                    hops,
                } => {
                    if self.net.alive[to as usize] {
                        for a in actions {
                            self.take_action(to as usize, a, now, true);
                        }
                        // As the daemon: a summary follows every batch, and the pair
                        // keeps reconciling until the digests match.
                        if hops > 0 {
                            self.exchange_hops(to as usize, from as usize, now, hops - 1);
                        }
                    }
                }
                Ev::Resync(i) => {
                    self.q.push(now + RESYNC_EVERY, Ev::Resync(i));
                    if self.net.alive[i as usize] {
                        for _ in 0..SYNC_PEERS {
                            let j = self.rng.gen_range(0..self.nodes.len());
                            self.exchange(i as usize, j, now);
                        }
                    }
                }
                Ev::Reconnect(i) => {
                    let ii = i as usize;
                    let other: Vec<usize> = (0..self.nodes.len())
                        .filter(|&j| self.net.side[j] != self.net.side[ii])
                        .collect();
                    // The daemon tells its protocol of every new connection; only peers
                    // this node holds as unresponsive care (a call during the cut).
                    let marked: Vec<u32> = self.nodes[ii]
                        .unresponsive
                        .keys()
                        .copied()
                        .filter(|&p| self.net.side[p as usize] != self.net.side[ii])
                        .collect();
                    for peer in marked {
                        let outs = self.nodes[ii].handle(
                            Input::Reconnected { peer },
                            now,
                            self.lv.view_of(ii),
                        );
                        self.outputs(i, outs, now);
                    }
                    for _ in 0..SYNC_PEERS {
                        if let Some(&j) = other.choose(&mut self.rng) {
                            self.exchange(ii, j, now);
                        }
                    }
                }
                Ev::RemovalDue(a) => {
                    if !self.renewed.contains(&a) {
                        self.tracker.set_gone(a);
                    }
                }
                Ev::Kill => self.kill(now),
                Ev::KillGroup => self.kill_group(now),
                Ev::Unreachable(i) => {
                    if !self.net.alive[i as usize] {
                        for v in &mut self.lv.views {
                            v.member_unreachable(i, now);
                        }
                        self.lv.refresh(now);
                    }
                }
                Ev::Unhealthy => self.turn_unhealthy(now),
                Ev::GiveUp { node, app } => self.give_up(node as usize, app, now),
                Ev::Heal => {
                    self.tracker.partition.apps_above_n_at_heal = self.tracker.above().0;
                    self.ledger.nodes_differing_at_heal = self.lv.nodes_differing(&self.net.alive);
                    for i in 0..self.nodes.len() {
                        if self.net.alive[i] {
                            let at = now + self.rng.gen_range(0..RECONNECT_MS);
                            self.q.push(at, Ev::Reconnect(i as u32));
                        }
                    }
                }
                Ev::HealCheck => {
                    let (apps, extra) = self.tracker.above();
                    self.tracker.partition.apps_above_n_30s_after_heal = apps;
                    self.tracker.partition.extra_instances_30s_after_heal = extra;
                    self.ledger.nodes_differing_30s_after_heal =
                        self.lv.nodes_differing(&self.net.alive);
                    self.ledger.loser_instances_30s_after_heal = self.loser_instances();
                }
                Ev::Sample => {
                    self.tracker.advance(now);
                    self.q.push(now + SAMPLE_EVERY, Ev::Sample);
                }
                Ev::Check => {
                    self.check(now);
                    self.q.push(now + CHECK_EVERY, Ev::Check);
                }
                Ev::Refresh => {
                    self.lv.refresh(now);
                    self.q.push(now + TICK, Ev::Refresh);
                }
                Ev::Update => self.update_apps(now),
            }
        }
        self.tracker.advance(end);
        self.check(end);
    }

    fn random_alive(&mut self) -> u32 {
        loop {
            let i = self.rng.gen_range(0..self.nodes.len());
            if self.net.alive[i] {
                return i as u32;
            }
        }
    }

    fn check(&mut self, now: Millis) {
        for (i, node) in self.nodes.iter().enumerate() {
            if !self.net.alive[i] {
                continue;
            }
            for e in node.check(now) {
                match e {
                    crate::protocol::CheckError::LeakedReservations(k) => {
                        self.inv.leaked_reservations += k as u64
                    }
                    crate::protocol::CheckError::Overcommit => self.inv.capacity_overcommits += 1,
                    crate::protocol::CheckError::HostedAndReserved(_) => {
                        self.inv.double_placements += 1
                    }
                }
            }
        }
    }

    fn send_broadcast(&mut self, from: u32, msg: Msg<u32>, now: Millis) {
        let receivers = self.net.alive.iter().filter(|&&a| a).count() as u64;
        self.net
            .count(receivers.saturating_sub(1), msg.wire_bytes());
        let at = now + self.net.delay(&mut self.rng);
        self.q.push(at, Ev::Broadcast { from, msg });
    }

    /// One event per broadcast of membership or running state: applied to every view
    /// (owner actions travel as [`Ev::Gossip`], into each node's own ledger).
    fn broadcast(&mut self, from: u32, msg: Msg<u32>, now: Millis) {
        self.lv.apply_all(&msg, now);
        // A running report also reaches the protocol of the nodes watching that placement
        // (standing), as the daemon hands every report to its node; the others would
        // ignore it, so only the watchers' protocols are run (a map lookup per node).
        if let Msg::Running { app, node, .. } = &msg {
            for i in 0..self.nodes.len() {
                if self.net.alive[i] && self.nodes[i].watches(app, *node) {
                    let outs = self.nodes[i].handle(
                        Input::Message { from, msg: &msg },
                        now,
                        self.lv.view_of(i),
                    );
                    self.outputs(i as u32, outs, now);
                }
            }
        }
    }

    /// An owner action enters at node `from` (its API) and is gossiped from there.
    fn owner_action(&mut self, from: u32, action: Action<()>, now: Millis) {
        self.take_action(from as usize, action.clone(), now, false);
        let receivers = self.net.alive.iter().filter(|&&a| a).count() as u64;
        self.net
            .count(receivers.saturating_sub(1), action_bytes(&action));
        let at = now + self.net.delay(&mut self.rng);
        self.q.push(at, Ev::Gossip { from, action });
    }

    /// A node on the other side of the partition from `from` when one is on, else any
    /// other live node: where the rival registration enters.
    fn rival_node(&mut self, from: u32, now: Millis) -> u32 {
        let fi = from as usize;
        let split = self.net.partitioned(now);
        let pool: Vec<u32> = (0..self.nodes.len())
            .filter(|&j| {
                self.net.alive[j] && j != fi && (!split || self.net.side[j] != self.net.side[fi])
            })
            .map(|j| j as u32)
            .collect();
        pool.choose(&mut self.rng).copied().unwrap_or(from)
    }

    fn gossip(&mut self, from: u32, action: &Action<()>, now: Millis) {
        for to in 0..self.nodes.len() {
            if to == from as usize
                || !self.net.reachable(from as usize, to, now)
                || self.net.lost(&mut self.rng)
            {
                continue;
            }
            self.take_action(to, action.clone(), now, false);
        }
    }

    /// Node `node`'s ledger takes an action; the nodes sharing that ledger act on the
    /// apps that changed.
    /// `synced`: delivered by anti-entropy. As in the daemon, an app learnt so is not a
    /// registration to the node's protocol (its home learnt it when it was made).
    fn take_action(&mut self, node: usize, action: Action<()>, now: Millis, synced: bool) {
        let g = self.lv.group[node];
        if self.lv.ledgers[g].contains(&action.id) {
            return;
        }
        let msgs = self.lv.insert(g, action, self.clock.height(now), now);
        if msgs.is_empty() {
            return;
        }
        // The nodes sharing this ledger that the action reached (all of them but across a
        // partition when one ledger is shared).
        let members: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.lv.group[i] == g && self.net.reachable(node, i, now))
            .collect();
        for msg in msgs
            .iter()
            .filter(|m| !(synced && matches!(m, Msg::Register(_))))
        {
            for &i in &members {
                let from = i as u32;
                let outs =
                    self.nodes[i].handle(Input::Message { from, msg }, now, &self.lv.views[g]);
                if !outs.is_empty() {
                    self.outputs(from, outs, now);
                }
            }
        }
    }

    /// Summary exchange between `a` and `b` (if they can talk): each sends the other the
    /// actions it lacks, one message per action, each of which can be lost.
    fn exchange(&mut self, a: usize, b: usize, now: Millis) {
        self.exchange_hops(a, b, now, SYNC_FOLLOW_UPS);
    }

    /// One summary exchange between `a` and `b`, followed by up to `hops` more while
    /// their digests differ (a lost action is asked for again at once, as the daemon's
    /// summary after every batch does, not at the next periodic exchange 30 s later).
    fn exchange_hops(&mut self, a: usize, b: usize, now: Millis, hops: u8) {
        let (ga, gb) = (self.lv.group[a], self.lv.group[b]);
        if ga == gb || !self.net.reachable(a, b, now) {
            return;
        }
        if self.lv.ledgers[ga].digest() == self.lv.ledgers[gb].digest() {
            return;
        }
        self.lv.sync_exchanges += 1;
        for (from, to, gf, gt) in [(a, b, ga, gb), (b, a, gb, ga)] {
            let missing = self.lv.missing(gf, gt);
            let mut kept = Vec::with_capacity(missing.len());
            for m in missing {
                self.lv.sync_actions += 1;
                self.net.count(1, action_bytes(&m));
                if !self.net.lost(&mut self.rng) {
                    kept.push(m);
                }
            }
            // A summary one way, the actions back: two delays. Sent even when every action
            // was lost, so that the follow-up summary asks again.
            let at = now + self.net.delay(&mut self.rng) + self.net.delay(&mut self.rng);
            self.q.push(
                at,
                Ev::SyncBatch {
                    to: to as u32,
                    from: from as u32,
                    actions: kept,
                    hops,
                },
            );
        }
    }

    /// Running instances of a registration that is not the one most ledgers hold.
    fn loser_instances(&self) -> u64 {
        let mut n = 0;
        for (i, rt) in self.rt.iter().enumerate() {
            if !self.net.alive[i] {
                continue;
            }
            for (app, inst) in rt {
                if inst.running
                    && self
                        .lv
                        .majority_owner(app, &self.net.alive)
                        .is_some_and(|o| o != inst.owner)
                {
                    n += 1;
                }
            }
        }
        n
    }

    fn outputs(&mut self, node: u32, outs: Vec<Output<u32>>, now: Millis) {
        let ni = node as usize;
        for o in outs {
            if let Some(t) = &self.cfg.trace_app {
                let about = match &o {
                    Output::Send(_, m) | Output::Broadcast(m) => m.app(),
                    Output::StartApp(a)
                    | Output::StopApp(a)
                    | Output::RemoveApp(a)
                    | Output::MoveApp { app: a, .. } => Some(&**a),
                    _ => None,
                };
                if about == Some(t.as_str()) {
                    self.trace.push(format!("{now} n{node}: {o:?}"));
                }
            }
            match o {
                Output::Send(to, msg) => {
                    self.net.count(1, msg.wire_bytes());
                    if !self.net.reachable(ni, to as usize, now) || self.net.lost(&mut self.rng) {
                        continue;
                    }
                    let at = now + self.net.delay(&mut self.rng);
                    self.q.push(
                        at,
                        Ev::Deliver {
                            to,
                            from: node,
                            msg,
                        },
                    );
                }
                Output::Broadcast(msg) => {
                    if let Msg::Reverted { app, version, .. } = &msg {
                        if let Some(&a) = self.app_index.get(app) {
                            self.rollouts.reverted(a, *version);
                        }
                    }
                    self.send_broadcast(node, msg, now)
                }
                Output::StartApp(app) => self.start(ni, app, now),
                Output::StopApp(app) => self.stop(ni, &app, now),
                Output::RemoveApp(app) => {
                    if let Some(&a) = self.app_index.get(&app) {
                        if self.expiring.contains(&a) && self.rt[ni].contains_key(&app) {
                            let due = self.lv.view_of(ni).removal_height(&app).unwrap_or(0);
                            self.offsets
                                .push(self.clock.height(now) as i64 - due as i64);
                        }
                    }
                    self.stop(ni, &app, now);
                }
                Output::MoveApp { app, version } => self.move_app(ni, app, version, now),
                Output::Persist(_) => {}
                Output::SetTimer(at) => {
                    let pending = self.next_tick[ni];
                    if at < pending || pending <= now {
                        self.next_tick[ni] = at;
                        self.q.push(at, Ev::Tick(node));
                    }
                }
            }
        }
    }

    fn kill(&mut self, now: Millis) {
        let Some(k) = self.cfg.kill else {
            return;
        };
        self.tracker.begin_kill(now);
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.shuffle(&mut self.rng);
        let count = ((self.nodes.len() as f64 * k.percent / 100.0).round() as usize)
            .min(self.nodes.len().saturating_sub(1));
        for &i in &order[..count] {
            self.die(i, now);
        }
        self.killed = count;
    }

    /// Node `i` dies now: its containers go with it, and its peers take it for dead once
    /// its connections have been gone for `UNREACHABLE_AFTER`.
    fn die(&mut self, i: usize, now: Millis) {
        self.net.alive[i] = false;
        let apps: Vec<Arc<str>> = self.rt[i].keys().cloned().collect();
        for app in apps {
            self.stop(i, &app, now);
        }
        let at = faults::unreachable_at(now, self.cfg.faults.death, &mut self.fault_rng);
        self.q.push(at, Ev::Unreachable(i as u32));
    }

    /// Every host of the first `apps` apps at their full count dies at once.
    fn kill_group(&mut self, now: Millis) {
        let Some(g) = self.cfg.faults.kill_group else {
            return;
        };
        let (victims, hosts) = faults::group_victims(
            g.apps,
            self.records.len(),
            |a| self.tracker.at_n(a),
            |a| {
                let name = &self.records[a].name;
                (0..self.rt.len())
                    .filter(|&i| {
                        self.net.alive[i] && self.rt[i].get(name).is_some_and(|x| x.running)
                    })
                    .collect()
            },
        );
        self.tracker.begin_kill(now);
        for &i in &hosts {
            self.die(i, now);
        }
        self.killed = hosts.len();
        self.group_victims = victims;
    }

    /// Apps with fewer live nodes that run them or are eligible with room for them now
    /// than instances: after a kill the survivors may be too full to take the lost ones.
    fn short_of_room(&self) -> usize {
        let params = crate::model::Params::default();
        self.records
            .iter()
            .filter(|r| {
                let able = (0..self.rt.len())
                    .filter(|&i| {
                        self.net.alive[i]
                            && (self.rt[i].contains_key(&r.name)
                                || crate::eligibility::check(
                                    &r.demand,
                                    &self.infos[i],
                                    self.offered[i].saturating_sub(self.rt_used[i]),
                                    false,
                                    &params,
                                )
                                .is_ok())
                    })
                    .count();
                able < r.demand.instances as usize
            })
            .count()
    }

    /// `--unhealthy K@T`: K % of the running instances turn unhealthy now; each host gives
    /// its instance up [`super::UNHEALTHY_GIVE_UP_MS`] later.
    fn turn_unhealthy(&mut self, now: Millis) {
        let Some(u) = self.cfg.unhealthy else {
            return;
        };
        let mut running: Vec<(usize, Arc<str>)> = Vec::new();
        for (i, rt) in self.rt.iter().enumerate() {
            if self.net.alive[i] {
                running.extend(
                    rt.iter()
                        .filter(|(_, x)| x.running)
                        .map(|(a, _)| (i, a.clone())),
                );
            }
        }
        running.shuffle(&mut self.rng);
        let count = (running.len() as f64 * u.percent / 100.0).round() as usize;
        for (node, app) in running.into_iter().take(count) {
            self.q.push(
                now + super::UNHEALTHY_GIVE_UP_MS,
                Ev::GiveUp {
                    node: node as u32,
                    app,
                },
            );
        }
    }

    fn give_up(&mut self, node: usize, app: Arc<str>, now: Millis) {
        let running = self.rt[node].get(&app).is_some_and(|i| i.running);
        if !self.net.alive[node] || !running {
            return;
        }
        self.stop(node, &app, now);
        if let Some(&a) = self.app_index.get(&app) {
            self.tracker.gave_up(a, now);
        }
        self.held_off
            .insert((node, app.clone()), now + crate::protocol::GIVE_UP_HOLD_OFF);
        let outs = self.nodes[node].handle(Input::GiveUp { app }, now, self.lv.view_of(node));
        self.outputs(node as u32, outs, now);
    }

    fn report(self) -> SimReport {
        let ledger = LedgerReport {
            nodes_differing_at_end: self.lv.nodes_differing(&self.net.alive),
            loser_instances_at_end: self.loser_instances(),
            sync_exchanges: self.lv.sync_exchanges,
            sync_actions_sent: self.lv.sync_actions,
            ..self.ledger.clone()
        };
        let (time_to_n_s, never_reached_n) = self.tracker.time_to_n();
        let (over, under) = self.tracker.over_under_seconds();
        let secs = self.cfg.duration_s.max(1) as f64;
        let n = self.nodes.len().max(1) as f64;
        let mut lines = Vec::new();
        for (i, rt) in self.rt.iter().enumerate() {
            for (app, inst) in rt {
                if inst.running && self.net.alive[i] {
                    lines.push((app.to_string(), i.to_string()));
                }
            }
        }
        let renewed_kept = self
            .renewed
            .iter()
            .filter(|&&a| self.tracker.running(a) == self.records[a].demand.instances)
            .count();
        let not_removed = self
            .expiring
            .iter()
            .filter(|a| !self.renewed.contains(a) && self.tracker.running(**a) > 0)
            .count();
        let (group_lost_s, groups_lost, groups_not_recovered) = faults::group_report(
            self.group_victims
                .iter()
                .map(|&a| self.tracker.recovered_after_kill(a)),
        );
        let fault = FaultReport {
            group_lost_s,
            groups_lost,
            groups_not_recovered,
            ..self.fault.clone()
        };
        let distinct_hosts = lines
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        let partition = self.cfg.partition.map(|_| {
            let mut p = self.tracker.partition.clone();
            p.apps_above_n_at_end = self.tracker.above().0;
            p
        });
        SimReport {
            config: self.cfg.clone(),
            infeasible_apps: 0,
            time_to_n_s,
            never_reached_n,
            over_assigned_app_seconds: over,
            under_assigned_app_seconds: under,
            kill: self.tracker.kill_report(self.killed).map(|mut k| {
                k.infeasible_after_kill = infeasible(&self.infos, &self.net.alive, &self.records)
                    .max(self.short_of_room());
                k
            }),
            unhealthy: self.cfg.unhealthy.map(|_| self.tracker.unhealthy_report()),
            partition,
            traffic: Traffic {
                messages_per_node_per_s: self.net.messages as f64 / n / secs,
                bytes_per_node_per_s: self.net.bytes as f64 / n / secs,
            },
            expiry: ExpiryReport {
                expiring_apps: self.expiring.len(),
                renewed_apps: self.renewed.len(),
                removals: self.offsets.len(),
                offset_blocks_min: self.offsets.iter().copied().min().unwrap_or(0),
                offset_blocks_max: self.offsets.iter().copied().max().unwrap_or(0),
                renewed_kept,
                not_removed,
            },
            final_state: FinalState {
                distinct_hosts,
                ..self
                    .tracker
                    .final_state(|i| self.records[i].name.to_string())
            },
            faults: fault,
            invariants: self.inv,
            ledger,
            digest: digest(lines),
            events: self.q.popped,
            trace: self.trace,
            update: self
                .cfg
                .update
                .map(|_| self.rollouts.report(|a| self.records[a].name.to_string())),
        }
    }
}

fn register_action(rec: &Arc<AppRecord>, seq: u64) -> Action<()> {
    Action::unsigned(&rec.owner, seq, OwnerOp::Register(rec.clone()))
}

/// Wire size of an owner action, as the equivalent protocol message.
fn action_bytes(a: &Action<()>) -> u64 {
    let msg: Msg<u32> = match &a.op {
        OwnerOp::Register(r) => Msg::Register(r.clone()),
        OwnerOp::Update(r) => Msg::Update(r.clone()),
        OwnerOp::Renew {
            app,
            height,
            expire,
        } => Msg::Renew {
            app: app.clone(),
            height: *height,
            expire: *expire,
        },
        OwnerOp::Cancel { app } => Msg::Cancel { app: app.clone() },
    };
    msg.wire_bytes()
}
