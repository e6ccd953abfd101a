//! One node's protocol state and its input handler.

use std::collections::BTreeMap;
use std::sync::Arc;

use proto::tier::{Resources, SYSTEM_RESERVE};

use super::group::{GroupMember, named_member, pending_member};
use super::msg::{BeatStatus, Health, Msg};
use super::rollout::{Rollout, RolloutPolicy};
use super::round::Round;
use super::standing::{Standing, Strikes};
use super::view::View;
use super::{
    ANNOUNCE_EVERY, ANNOUNCE_MIN_GAP, BEAT_EVERY, FAILED_START_HOLD_OFF, GIVE_UP_HOLD_OFF, Millis,
    Peer, RESERVE_SLACK, RETRY_AFTER, START_GRACE, TAKEOVER_AFTER, TICK, name_hash,
};
use crate::model::Capacity;

/// How long a "cannot run here" answer ([`Input::LocalCheck`]) holds without a new one: three beat periods. The
/// daemon answers again before every call for bids and registration and every beat
/// period, so this only drops answers about apps it no longer checks.
const PORTS_BUSY_FOR: Millis = 3 * BEAT_EVERY;

/// Something that happened to the node.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a, P> {
    /// A message from `from`, signature already verified by the caller.
    Message {
        from: P,
        msg: &'a Msg<P>,
    },
    /// A timer set with [`Output::SetTimer`] fired (extra ticks are harmless).
    Tick,
    ContainerStarted {
        app: Arc<str>,
    },
    ContainerFailed {
        app: Arc<str>,
    },
    /// A running instance went away on its own (removed by hand).
    ContainerExited {
        app: Arc<str>,
    },
    /// The host's probes changed their verdict on a hosted instance.
    Health {
        app: Arc<str>,
        health: Health,
    },
    /// The host gives an instance up: still unhealthy after its restarts, crash-looping,
    /// or it could not be restarted. The node removes it, tells the group (whose
    /// coordinator re-places it elsewhere) and does not bid for the app for
    /// [`GIVE_UP_HOLD_OFF`].
    GiveUp {
        app: Arc<str>,
    },
    /// Whether the container engine answers. While it does not, the node bids for
    /// nothing and takes no assignment (it could not start anything); beats, gossip and
    /// its running instances go on.
    Engine {
        ok: bool,
    },
    /// The node's whole size or its non-app use changed.
    Capacity {
        total: Resources,
        base_used: Resources,
    },
    /// The operator plans a restart: peers do not replace this node's apps until `until`.
    PlannedRestart {
        until: Millis,
    },
    /// At start-up, the daemon found a running instance of `app` (by its labels) and keeps
    /// it: nothing is torn down by a restart. The group is re-learnt from running reports
    /// and beats. `version` is the spec version its labels name (0 when unknown: the
    /// app's current one).
    Adopt {
        app: Arc<str>,
        version: u64,
    },
    /// Given before a call for bids for `app` (and periodically): whether this host can
    /// run the app as far as only the host can tell — every host port of the app can be
    /// bound now (anything on the host may hold one), and its images come from registries
    /// this node may pull from. A node that cannot declines instead of winning and failing.
    LocalCheck {
        app: Arc<str>,
        ok: bool,
    },
    /// At start-up: a record of strikes against `node` this node persisted
    /// ([`PersistRecord::Standing`]).
    Standing {
        node: P,
        strikes: Strikes,
    },
    /// The network has a connection to `peer` again (it had none). A call made while the
    /// two were cut off went unanswered; that says nothing about the peer now.
    Reconnected {
        peer: P,
    },
}

/// What the node asks its host to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<P> {
    /// Gossip to every node.
    Broadcast(Msg<P>),
    /// Send to one node (request-response in the daemon).
    Send(P, Msg<P>),
    StartApp(Arc<str>),
    /// Replace the running instance of `app` with spec `version`: prepare the new
    /// containers while the old serve, then stop the old and start the new (a rolling
    /// update step). Answered like a start: [`Input::ContainerStarted`] or
    /// [`Input::ContainerFailed`].
    MoveApp {
        app: Arc<str>,
        version: u64,
    },
    /// Stop the containers, keep nothing (an extra instance; data is re-created elsewhere).
    StopApp(Arc<str>),
    /// Remove containers, network and volumes (expiry + grace, or owner cancel).
    RemoveApp(Arc<str>),
    Persist(PersistRecord<P>),
    /// Deliver [`Input::Tick`] at this time.
    SetTimer(Millis),
}

/// State the daemon must store before acting on the outputs that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistRecord<P> {
    /// The node hosts (or starts) an instance of `app`.
    Hosting { app: Arc<str>, running: bool },
    /// The node no longer hosts `app`.
    Released { app: Arc<str> },
    /// This node's record of strikes against `node` changed (see [`super::standing`]).
    Standing { node: P, strikes: Strikes },
}

/// A node's fixed facts.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig<P> {
    pub id: P,
    /// Whole size of the node; the system reserve is subtracted here.
    pub total: Resources,
    /// What the host uses outside fluxnode apps.
    pub base_used: Resources,
    /// Offset of this node's heartbeat schedule inside [`BEAT_EVERY`] and
    /// [`ANNOUNCE_EVERY`], so nodes do not all beat in the same millisecond.
    pub phase: Millis,
}

#[derive(Debug, Clone)]
pub(crate) struct Hosted<P> {
    pub running: bool,
    pub health: Health,
    pub cap: Capacity,
    /// The spec version the instance runs or starts.
    pub version: u64,
    /// The version it ran before its last move; cleared once it went back after a failed
    /// move (a failure of that version is an ordinary one).
    pub previous: Option<u64>,
    /// When it last moved to another version ([`Output::MoveApp`]): from then on it stays
    /// listed as a location while its containers are replaced.
    pub moved_at: Option<Millis>,
    /// Healthy without a break since then, on this version.
    pub healthy_since: Option<Millis>,
    /// The coordinator that assigned the instance when it is not a member of the group
    /// (an app's home placing it): it hears the goodbye too, or it could never tell that
    /// its placement was given back before serving.
    pub assigned_by: Option<P>,
    /// The other members of the app's group, including dead ones not yet forgotten.
    pub group: BTreeMap<P, GroupMember>,
    /// Members that said they left, and when: a beat they sent before leaving can arrive
    /// after their goodbye (latency varies), and must not bring them back.
    pub left: BTreeMap<P, Millis>,
}

#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    pub cap: Capacity,
    pub until: Millis,
}

/// The protocol state of one node. See the module docs and `docs/protocol.md`.
#[derive(Debug, Clone)]
pub struct Node<P: Peer> {
    pub(crate) id: P,
    pub(crate) hash: u64,
    pub(crate) offered: Capacity,
    pub(crate) base_used: Capacity,
    pub(crate) used: Capacity,
    pub(crate) reservations: BTreeMap<(Arc<str>, P, u64), Reservation>,
    pub(crate) hosted: BTreeMap<Arc<str>, Hosted<P>>,
    pub(crate) rounds: BTreeMap<Arc<str>, Round<P>>,
    pub(crate) retry_at: BTreeMap<Arc<str>, Millis>,
    pub(crate) watch: BTreeMap<Arc<str>, Millis>,
    pub(crate) unresponsive: BTreeMap<P, Millis>,
    /// Nodes that declined an app recently, not called for it again until the time.
    pub(crate) declined: BTreeMap<(Arc<str>, P), Millis>,
    /// Hosted apps to reconcile at the given time, ahead of the beat schedule (a round
    /// fell short, or this node just became coordinator of a short group).
    pub(crate) rerun: BTreeMap<Arc<str>, Millis>,
    pub(crate) next_round: u64,
    pub(crate) next_beat: Millis,
    /// Time of the previous tick: a member whose liveness ended since then triggers its
    /// group's coordinator at once instead of at the next beat period.
    pub(crate) last_tick: Millis,
    pub(crate) next_announce: Millis,
    pub(crate) last_announce: Option<Millis>,
    pub(crate) announce_dirty: bool,
    pub(crate) restart_until: Option<Millis>,
    /// Apps this host cannot run ([`Input::LocalCheck`]), until when that answer holds.
    pub(crate) ports_busy: BTreeMap<Arc<str>, Millis>,
    /// Apps this host gave up ([`Input::GiveUp`]) or failed to start
    /// ([`Input::ContainerFailed`]) and does not bid for until the time.
    pub(crate) given_up: BTreeMap<Arc<str>, Millis>,
    /// The container engine answers ([`Input::Engine`]).
    pub(crate) engine_ok: bool,
    /// Placements this node assigned that never came to serve, by node.
    pub(crate) standing: Standing<P>,
    /// Assignments this node took, (app, coordinator, round) → when: a resend of one it
    /// has since left (stopped by the merged group's coordinator) is answered with a
    /// goodbye, not taken again. Taking it again started an instance the merged group had
    /// just stopped, and the group's coordinator ignored it for `LEFT_MEMORY` — the app
    /// stayed above N for 20 s after a heal (`fluxnode sim --node-ledgers`, seed 209).
    pub(crate) taken: BTreeMap<(Arc<str>, P, u64), Millis>,
    /// How this node rolls updates through the groups it coordinates.
    pub(crate) rollout_policy: RolloutPolicy,
    /// Rollouts this node coordinates now.
    pub(crate) rollouts: BTreeMap<Arc<str>, Rollout<P>>,
    /// Rollouts this node reverted, app → (bad version, good version).
    pub(crate) reverted: BTreeMap<Arc<str>, (u64, u64)>,
    /// Members whose host cannot fit the new version: an extra instance is placed
    /// elsewhere and the member stops once it is stable (app → member).
    pub(crate) surge: BTreeMap<Arc<str>, P>,
}

fn offered_of(total: Resources, base_used: Resources) -> (Capacity, Capacity) {
    let base = Capacity::from(base_used);
    let offered = Capacity::from(total)
        .saturating_sub(Capacity::from(SYSTEM_RESERVE))
        .saturating_sub(base);
    (offered, base)
}

impl<P: Peer> Node<P> {
    pub fn new(config: NodeConfig<P>) -> Self {
        let (offered, base_used) = offered_of(config.total, config.base_used);
        Self {
            id: config.id,
            hash: name_hash(&config.id.to_string()),
            offered,
            base_used,
            used: Capacity::ZERO,
            reservations: BTreeMap::new(),
            hosted: BTreeMap::new(),
            rounds: BTreeMap::new(),
            retry_at: BTreeMap::new(),
            watch: BTreeMap::new(),
            unresponsive: BTreeMap::new(),
            declined: BTreeMap::new(),
            rerun: BTreeMap::new(),
            next_round: 1,
            next_beat: config.phase % BEAT_EVERY,
            last_tick: 0,
            next_announce: config.phase % ANNOUNCE_EVERY,
            last_announce: None,
            announce_dirty: false,
            restart_until: None,
            ports_busy: BTreeMap::new(),
            given_up: BTreeMap::new(),
            engine_ok: true,
            standing: Standing::default(),
            taken: BTreeMap::new(),
            rollout_policy: RolloutPolicy::default(),
            rollouts: BTreeMap::new(),
            reverted: BTreeMap::new(),
            surge: BTreeMap::new(),
        }
    }

    /// Sets how this node rolls updates through the groups it coordinates.
    pub fn set_rollout_policy(&mut self, policy: RolloutPolicy) {
        self.rollout_policy = policy;
    }

    /// Whether `app`'s instance here is listed as a location: running, or moving to
    /// another spec version after it ran (it serves again within seconds; dropping it
    /// from the running report would make its group replace it).
    pub fn listed(&self, app: &str) -> bool {
        self.hosted
            .get(app)
            .is_some_and(|h| h.running || h.moved_at.is_some())
    }

    /// The spec version this node's instance of `app` runs or starts.
    pub fn version_of(&self, app: &str) -> Option<u64> {
        self.hosted.get(app).map(|h| h.version)
    }

    /// Rollouts this node coordinates now: app, target version, members moving.
    pub fn rollouts(&self) -> impl Iterator<Item = (&Arc<str>, u64, usize)> {
        self.rollouts
            .iter()
            .map(|(a, r)| (a, r.target, r.moves.len()))
    }

    pub fn id(&self) -> P {
        self.id
    }

    /// Apps this node hosts, with whether each is running (else starting).
    pub fn hosted(&self) -> impl Iterator<Item = (&Arc<str>, bool)> {
        self.hosted.iter().map(|(a, h)| (a, h.running))
    }

    /// The health of a hosted instance as this node's probes last reported it.
    pub fn health_of(&self, app: &str) -> Option<Health> {
        self.hosted.get(app).map(|h| h.health)
    }

    /// Apps this node gave up and will not bid for until the time given.
    pub fn held_off(&self) -> impl Iterator<Item = (&Arc<str>, Millis)> {
        self.given_up.iter().map(|(a, &t)| (a, t))
    }

    /// Whether this node watches its placement of `app` on `p` (it assigned it, and has not
    /// yet seen it serve or be given back).
    pub fn watches(&self, app: &str, p: P) -> bool {
        self.standing.watches(app, p)
    }

    /// This node's strikes against other nodes (see [`super::standing`]).
    pub fn strikes(&self) -> impl Iterator<Item = (P, Strikes)> + '_ {
        self.standing.strikes()
    }

    /// Live members of a hosted app's group as this node sees them from beats (itself
    /// included), or `None` when it does not host the app.
    pub fn live_group_size(&self, app: &str, now: Millis) -> Option<usize> {
        self.hosted
            .contains_key(app)
            .then(|| super::group::live_members(self, app, now).len())
    }

    /// Asks for an announcement at the next tick (subject to [`ANNOUNCE_MIN_GAP`]): at
    /// start-up, and when a peer connects, so membership does not wait for the periodic one.
    pub fn announce_soon(&mut self) {
        self.announce_dirty = true;
    }

    /// How many bids hold a reservation now.
    pub fn open_reservations(&self) -> usize {
        self.reservations.len()
    }

    /// Capacity held by open bids.
    pub fn reserved(&self) -> Capacity {
        self.reservations
            .values()
            .fold(Capacity::ZERO, |acc, r| acc.saturating_add(r.cap))
    }

    /// Capacity still free for new bids.
    pub fn free(&self) -> Capacity {
        self.offered
            .saturating_sub(self.used)
            .saturating_sub(self.reserved())
    }

    /// Processes one input at time `now` against the node's view of the ledgers.
    pub fn handle(&mut self, input: Input<'_, P>, now: Millis, view: &View<P>) -> Vec<Output<P>> {
        let mut out = Vec::new();
        match input {
            Input::Message { from, msg } => self.on_message(from, msg, now, view, &mut out),
            Input::Tick => self.on_tick(now, view, &mut out),
            Input::ContainerStarted { app } => {
                if let Some(h) = self.hosted.get_mut(&app) {
                    h.running = true;
                    let health = h.health;
                    let version = h.version;
                    out.push(Output::Persist(PersistRecord::Hosting {
                        app: app.clone(),
                        running: true,
                    }));
                    out.push(Output::Broadcast(Msg::Running {
                        node: self.id,
                        app: app.clone(),
                        running: true,
                        health,
                        version,
                    }));
                    self.beat_group(&app, BeatStatus::Running, &mut out);
                }
            }
            Input::ContainerFailed { app } => {
                // A move to a new version that failed: back to the old one, the rollout
                // reverted; the instance stays.
                if self.failed_after_move(&app, "its start failed", now, view, &mut out) {
                    return out;
                }
                // A start that failed here fails again at once more often than not (no
                // free app subnet, a port held by another program, the engine refusing
                // the image): bidding for the app again handed it straight back, and
                // one node failed the same app every 0.7 s for 6 s while others were
                // free (`scripts/scale.sh`, failing phase). The coordinator hears the
                // release now and the decline when it calls this node again.
                if self.hosted.contains_key(&app) {
                    let until = now + FAILED_START_HOLD_OFF;
                    let e = self.given_up.entry(app.clone()).or_insert(until);
                    *e = (*e).max(until);
                }
                // This node may also be the app's home, having placed it on itself (an
                // orphan's home paces its rounds `2 × START_GRACE` apart). A peer's failed
                // start brings its home's next round forward (`gave_back`); its own must
                // too: otherwise the next round came a minute later, after the hold-off,
                // and the home, the emptiest node, won and failed again (a replaced node
                // of `scripts/scale.sh` failed one app three times, a minute apart).
                if let Some(t) = self.retry_at.get_mut(&app) {
                    *t = (*t).min(now + RETRY_AFTER);
                }
                self.release(&app, &mut out);
            }
            Input::ContainerExited { app } => {
                self.release(&app, &mut out);
            }
            // A verdict on containers being replaced (a move) is about the old ones.
            Input::Health { app, .. } if self.hosted.get(&app).is_some_and(|h| !h.running) => {}
            Input::Health { app, health } => {
                // This node's own instance serving counts like a peer's.
                if health == Health::Healthy && self.hosted.contains_key(&app) {
                    let id = self.id;
                    self.served(&app, id, now, &mut out);
                }
                if let Some(h) = self.hosted.get_mut(&app) {
                    if health != Health::Healthy {
                        h.healthy_since = None;
                    } else if h.healthy_since.is_none() {
                        h.healthy_since = Some(now);
                    }
                    if h.health != health {
                        h.health = health;
                        let running = h.running;
                        let version = h.version;
                        if running {
                            out.push(Output::Broadcast(Msg::Running {
                                node: self.id,
                                app: app.clone(),
                                running: true,
                                health,
                                version,
                            }));
                        }
                        let status = self.status_of(&app);
                        self.beat_group(&app, status, &mut out);
                    }
                }
            }
            Input::Engine { ok } => self.engine_ok = ok,
            Input::Standing { node, strikes } => self.standing.restore(node, strikes),
            // Kept for `UNRESPONSIVE_FOR` after a heal, the mark from a call made during
            // the partition skipped the peer for every app of this coordinator: on three
            // daemons, the only node that could take the third instance, for a minute.
            // Only a new connection clears it: a peer that is merely slow to answer (a
            // loaded host) keeps sending gossip, and calling it again each round made
            // every round wait out its window (`scripts/scale.sh 20`: registration → 3
            // running went from a 4 s median to 11 s when any message cleared it).
            Input::Reconnected { peer } => {
                self.unresponsive.remove(&peer);
            }
            Input::GiveUp { app } => {
                if self.failed_after_move(
                    &app,
                    "unhealthy after its restarts before it ever served",
                    now,
                    view,
                    &mut out,
                ) {
                    return out;
                }
                self.given_up.insert(app.clone(), now + GIVE_UP_HOLD_OFF);
                self.reservations.retain(|(a, _, _), _| *a != app);
                if self.hosted.contains_key(&app) {
                    out.push(Output::RemoveApp(app.clone()));
                    self.release(&app, &mut out);
                }
            }
            Input::Capacity { total, base_used } => {
                (self.offered, self.base_used) = offered_of(total, base_used);
                self.announce_dirty = true;
            }
            Input::Adopt { app, version } => {
                if let (Some(e), false) = (view.app(&app), self.hosted.contains_key(&app)) {
                    let record = view.record_of(&app, version).unwrap_or(&e.record);
                    let version = record.version;
                    let cap = Capacity::from(record.demand.resources);
                    self.used = self.used.saturating_add(cap);
                    self.announce_dirty = true;
                    self.hosted.insert(
                        app.clone(),
                        Hosted {
                            running: true,
                            health: Health::Starting,
                            cap,
                            version,
                            previous: None,
                            moved_at: None,
                            healthy_since: None,
                            assigned_by: None,
                            group: BTreeMap::new(),
                            left: BTreeMap::new(),
                        },
                    );
                    out.push(Output::Persist(PersistRecord::Hosting {
                        app: app.clone(),
                        running: true,
                    }));
                    out.push(Output::Broadcast(Msg::Running {
                        node: self.id,
                        app,
                        running: true,
                        health: Health::Starting,
                        version,
                    }));
                }
            }
            Input::LocalCheck { app, ok } => {
                if ok {
                    self.ports_busy.remove(&app);
                } else {
                    self.ports_busy.insert(app, now + PORTS_BUSY_FOR);
                }
            }
            Input::PlannedRestart { until } => {
                self.restart_until = Some(until);
                // Now, not after `ANNOUNCE_MIN_GAP`: the daemon stops half a second later,
                // and a node stopped just after its hosting changed (it announced then)
                // went unannounced, so its peers took it for dead 30 s after it left and
                // re-placed what it runs alone (daemon_restart, when the restart took over
                // 30 s to reconnect).
                self.announce(now, &mut out);
                let apps: Vec<Arc<str>> = self.hosted.keys().cloned().collect();
                for app in apps {
                    let status = self.status_of(&app);
                    self.beat_group(&app, status, &mut out);
                }
            }
        }
        out
    }

    /// The beat that tells a coordinator this node does not (or no longer) run `app`.
    fn goodbye(&self, app: &Arc<str>) -> Msg<P> {
        Msg::Beat {
            app: app.clone(),
            node: self.id,
            status: BeatStatus::Leaving,
            restart_until: None,
            health: Health::Unhealthy,
            version: 0,
        }
    }

    pub(crate) fn status_of(&self, app: &str) -> BeatStatus {
        match self.hosted.get(app) {
            Some(h) if h.running => BeatStatus::Running,
            Some(_) => BeatStatus::Starting,
            None => BeatStatus::Leaving,
        }
    }

    fn on_message(
        &mut self,
        from: P,
        msg: &Msg<P>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        match msg {
            Msg::Register(rec) => {
                let homes = view.homes(&rec.name);
                match homes.iter().position(|&h| h == self.id) {
                    // Running already (a node that just joined learns old apps as
                    // registrations): its group takes care of it.
                    Some(0) if !view.locations(&rec.name).is_empty() => {}
                    Some(0) => self.start_round(&rec.name, now, view, out),
                    Some(k) => {
                        self.watch
                            .insert(rec.name.clone(), now + k as Millis * TAKEOVER_AFTER);
                    }
                    None => {}
                }
            }
            Msg::Cancel { app } => {
                if self.hosted.contains_key(app) {
                    out.push(Output::RemoveApp(app.clone()));
                    self.release(app, out);
                }
                // The app is gone, or its name went to an earlier registration: none of
                // its placement state may carry over to a new app of the same name (a
                // decline or an open round of the old one would hold the new one back).
                self.rounds.remove(app);
                self.retry_at.remove(app);
                self.watch.remove(app);
                self.rerun.remove(app);
                self.declined.retain(|(a, _), _| a != app);
                self.standing.forget_app(app);
                // A bid held for a round of the old app would make this node decline
                // every call for the new one until it lapsed, and each coordinator would
                // then skip it for `DECLINE_MEMORY`.
                self.reservations.retain(|(a, _, _), _| a != app);
            }
            Msg::CallForBids {
                app,
                round,
                coordinator,
                deadline,
            } => {
                let bid = self.consider_call(app, *round, *coordinator, *deadline, now, view);
                let reply = if bid {
                    Msg::Bid {
                        app: app.clone(),
                        round: *round,
                        node: self.id,
                    }
                } else {
                    Msg::Decline {
                        app: app.clone(),
                        round: *round,
                        node: self.id,
                    }
                };
                out.push(Output::Send(*coordinator, reply));
            }
            Msg::Bid { .. } | Msg::Decline { .. } => self.on_answer(msg, now, view, out),
            Msg::Assignment { .. } => self.on_assignment(msg, now, view, out),
            Msg::Beat { .. } => self.on_beat(msg, now, view, out),
            Msg::Gone { app, node, .. } => {
                // Taken for dead by its group while it still runs the app (a partition,
                // a stall): say so again, so every view lists it once more.
                if *node == self.id {
                    if let Some(h) = self.hosted.get(app).filter(|h| h.running) {
                        out.push(Output::Broadcast(Msg::Running {
                            node: self.id,
                            app: app.clone(),
                            running: true,
                            health: h.health,
                            version: h.version,
                        }));
                    }
                }
            }
            Msg::Stop {
                app,
                coordinator,
                node,
            } => {
                let known = *coordinator == self.id
                    || self
                        .hosted
                        .get(app)
                        .is_some_and(|h| h.group.contains_key(coordinator));
                if *node == self.id && known && self.hosted.contains_key(app) {
                    out.push(Output::StopApp(app.clone()));
                    self.release(app, out);
                }
            }
            Msg::Move { .. } => self.on_move(msg, now, view, out),
            // An update may change the instance count: the coordinator reconciles now;
            // its rollout step runs at every tick.
            Msg::Update(rec) => {
                if self.hosted.contains_key(&rec.name) {
                    self.rerun.entry(rec.name.clone()).or_insert(now);
                }
            }
            Msg::Reverted { .. } => {}
            Msg::Running {
                node,
                app,
                running,
                health,
                ..
            } => {
                if *running {
                    if *health == Health::Healthy {
                        self.served(app, *node, now, out);
                    }
                } else {
                    self.gave_back(app, *node, now, view, out);
                    // A node declines a call for an app it runs already. Once it stops
                    // running it (it ran the registration that lost the name, or a
                    // coordinator stopped it as an extra), that decline says nothing any
                    // more: were it kept for `DECLINE_MEMORY`, a group that needs this
                    // node (three nodes, three instances) stayed short for a minute
                    // after a healed partition (`ledger_cluster`'s partition round).
                    let declined = self.declined.remove(&(app.clone(), *node)).is_some();
                    // Nor is it a member of this group any more. A node known only as a
                    // location (the loser's host, reported on reconnecting) was added as
                    // a member not yet heard from; left there, it was never called for
                    // the app until `FORGET_AFTER` (10 minutes).
                    let member = self
                        .hosted
                        .get_mut(app)
                        .is_some_and(|h| h.group.remove(node).is_some());
                    if (declined || member) && self.hosted.contains_key(app) {
                        self.rerun.entry(app.clone()).or_insert(now);
                    }
                }
            }
            Msg::Renew { .. } | Msg::Announce { .. } => {}
        }
        let _ = from;
    }

    /// Whether to bid: the app is known and placeable, not hosted or reserved here, and
    /// fits in what is free. A bid reserves the capacity until the deadline plus slack.
    fn consider_call(
        &mut self,
        app: &Arc<str>,
        round: u64,
        coordinator: P,
        deadline: Millis,
        now: Millis,
        view: &View<P>,
    ) -> bool {
        if !view.placeable(app, now) || self.hosted.contains_key(app) {
            return false;
        }
        // A coordinator runs one round per app: its call for a later round abandons the
        // earlier one (e.g. the name went to another registration meanwhile), so the bid
        // held for that one is void.
        self.reservations
            .retain(|(a, c, r), _| !(a == app && *c == coordinator && *r < round));
        if self.reservations.keys().any(|(a, _, _)| a == app) {
            return false;
        }
        if self.ports_busy.get(app).is_some_and(|&until| until > now) {
            return false;
        }
        if !self.engine_ok || self.given_up.get(app).is_some_and(|&until| until > now) {
            return false;
        }
        let Some(entry) = view.app(app) else {
            return false;
        };
        let Some(me) = view.info(self.id) else {
            return false;
        };
        if crate::eligibility::check_static(&entry.record.demand, me).is_err() {
            return false;
        }
        let cap = Capacity::from(entry.record.demand.resources);
        if !cap.fits_within(&self.free()) {
            return false;
        }
        self.reservations.insert(
            (app.clone(), coordinator, round),
            Reservation {
                cap,
                until: deadline.max(now) + RESERVE_SLACK,
            },
        );
        true
    }

    fn on_assignment(
        &mut self,
        msg: &Msg<P>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let Msg::Assignment {
            app,
            round,
            coordinator,
            group,
        } = msg
        else {
            return;
        };
        let (round, coordinator) = (*round, *coordinator);
        self.watch.remove(app);
        let reservation = self.reservations.remove(&(app.clone(), coordinator, round));
        let chosen = group.contains(&self.id);
        let key = (app.clone(), coordinator, round);
        if chosen && !self.hosted.contains_key(app) && self.taken.contains_key(&key) {
            out.push(Output::Send(coordinator, self.goodbye(app)));
            return;
        }
        if let Some(h) = self.hosted.get_mut(app) {
            for &p in group.iter() {
                if p != self.id && !h.group.contains_key(&p) {
                    h.left.remove(&p);
                    // The coordinator's own winners keep the start grace: its round
                    // drops those never heard from (see `tick_rounds`) well before that.
                    let member = if coordinator == self.id {
                        pending_member(p, now)
                    } else {
                        named_member(p, now)
                    };
                    h.group.insert(p, member);
                }
            }
            return;
        }
        if !chosen {
            return;
        }
        let held_off = !self.engine_ok || self.given_up.get(app).is_some_and(|&until| until > now);
        let cap = match (reservation, view.app(app)) {
            (Some(r), _) if !held_off => r.cap,
            // A resent assignment after the reservation lapsed: take it if it still fits.
            (_, Some(e)) => {
                let cap = Capacity::from(e.record.demand.resources);
                if held_off || !cap.fits_within(&self.free()) || !view.placeable(app, now) {
                    out.push(Output::Send(coordinator, self.goodbye(app)));
                    return;
                }
                cap
            }
            (_, None) => return,
        };
        self.used = self.used.saturating_add(cap);
        self.taken.insert(key, now);
        // Any other open bid for this app (another coordinator's round) is void now.
        self.reservations.retain(|(a, _, _), _| a != app);
        self.announce_dirty = true;
        let members = group
            .iter()
            .filter(|&&p| p != self.id)
            .map(|&p| (p, named_member(p, now)))
            .collect();
        let version = self.target_version(app, view).unwrap_or(0);
        self.hosted.insert(
            app.clone(),
            Hosted {
                running: false,
                health: Health::Starting,
                cap,
                version,
                previous: None,
                moved_at: None,
                healthy_since: None,
                assigned_by: (!group.contains(&coordinator) && coordinator != self.id)
                    .then_some(coordinator),
                group: members,
                left: BTreeMap::new(),
            },
        );
        out.push(Output::Persist(PersistRecord::Hosting {
            app: app.clone(),
            running: false,
        }));
        out.push(Output::StartApp(app.clone()));
        self.beat_group(app, BeatStatus::Starting, out);
        if group.len()
            < view
                .app(app)
                .map_or(0, |e| e.record.demand.instances as usize)
        {
            // The round fell short: whoever coordinates the new group acts at once.
            self.rerun.insert(app.clone(), now + super::TICK);
        }
        if !group.contains(&coordinator) && coordinator != self.id {
            out.push(Output::Send(
                coordinator,
                self.beat(app, BeatStatus::Starting),
            ));
        }
    }

    fn on_tick(&mut self, now: Millis, view: &View<P>, out: &mut Vec<Output<P>>) {
        self.reservations.retain(|_, r| r.until > now);
        self.unresponsive.retain(|_, &mut until| until > now);
        self.declined.retain(|_, &mut until| until > now);
        self.ports_busy.retain(|_, &mut until| until > now);
        self.given_up.retain(|_, &mut until| until > now);
        // Resends of an assignment come within a few ACK_WAITs of the first.
        self.taken
            .retain(|_, &mut t| now.saturating_sub(t) < super::LEFT_MEMORY);
        self.standing.tick(now);
        self.retry_at.retain(|_, &mut t| t > now);
        self.tick_rounds(now, view, out);
        self.tick_rollouts(now, view, out);

        let due: Vec<Arc<str>> = self
            .watch
            .iter()
            .filter(|&(_, &t)| t <= now)
            .map(|(a, _)| a.clone())
            .collect();
        for app in due {
            self.watch.remove(&app);
            // Someone already runs it: its group takes care of it, no second group.
            let placed = !view.locations(&app).is_empty();
            if !placed && !self.hosted.contains_key(&app) && !self.round_open(&app) {
                self.start_round(&app, now, view, out);
            }
        }
        for app in view.orphans() {
            if view.homes(app).first() == Some(&self.id)
                && !self.round_open(app)
                && !self.retry_at.contains_key(app)
            {
                self.retry_at.insert(app.clone(), now + 2 * START_GRACE);
                self.start_round(app, now, view, out);
            }
        }

        // A member that just went dead: its group's coordinator (possibly this node, now
        // that the old one is gone) re-places it at this tick rather than at its next beat,
        // which takes up to a beat period (5 s) off the replacement time.
        let since = std::mem::replace(&mut self.last_tick, now);
        let mut gone: Vec<(Arc<str>, P)> = Vec::new();
        for (app, h) in &self.hosted {
            let mut any = false;
            for (&p, m) in &h.group {
                if m.alive(since) && !m.alive(now) {
                    any = true;
                    if m.last_heard > 0 {
                        gone.push((app.clone(), p));
                    }
                }
            }
            if any {
                self.rerun.entry(app.clone()).or_insert(now);
            }
        }
        // The group's coordinator tells every node that the member is gone, so `locations`
        // and running counts drop it now rather than after membership expiry.
        for (app, p) in gone {
            if self.is_coordinator(&app, now, view) && view.locations(&app).iter().any(|l| l.0 == p)
            {
                out.push(Output::Broadcast(Msg::Gone {
                    app,
                    node: p,
                    by: self.id,
                }));
            }
        }
        let due: Vec<Arc<str>> = self
            .rerun
            .iter()
            .filter(|&(_, &t)| t <= now)
            .map(|(a, _)| a.clone())
            .collect();
        for app in due {
            self.rerun.remove(&app);
            if self.hosted.contains_key(&app)
                && self.is_coordinator(&app, now, view)
                && !self.round_open(&app)
            {
                self.retry_at.remove(&app);
                self.reconcile(&app, now, view, out);
            }
        }
        if now >= self.next_beat {
            self.next_beat = now + BEAT_EVERY;
            self.group_duties(now, view, out);
        }
        let gap_ok = self
            .last_announce
            .is_none_or(|t| now.saturating_sub(t) >= ANNOUNCE_MIN_GAP);
        if now >= self.next_announce || (self.announce_dirty && gap_ok) {
            self.announce(now, out);
        }
        out.push(Output::SetTimer(now + TICK));
    }

    /// Announces this node's membership and used capacity now.
    fn announce(&mut self, now: Millis, out: &mut Vec<Output<P>>) {
        self.announce_dirty = false;
        self.last_announce = Some(now);
        self.next_announce = now + ANNOUNCE_EVERY;
        let used = self
            .base_used
            .saturating_add(self.used)
            .saturating_add(self.reserved());
        out.push(Output::Broadcast(Msg::Announce {
            node: self.id,
            used_milli_cpu: used.cpu_milli,
            used_ram_mb: used.ram_mb,
            used_hdd_gb: used.hdd_gb,
            restart_until: self.restart_until,
        }));
    }
}
