//! Rolling updates: the coordinator of a hosted app moves its group to the app's target
//! spec version a few members at a time, each step gated on the moved instances being
//! healthy for a while, and reverts the moved ones when a step fails.
//!
//! The state a rollout needs is what the group reports — each member's version and health
//! in its beats — plus the view's target version (the ledger's latest spec, unless its
//! rollout was reverted; see [`View::target_version`]). A coordinator keeps only when it
//! ordered each move; a new coordinator (the old one died) picks the rollout up from the
//! beats, counting an instance already moving from when it first sees it.
//!
//! Two things revert a rollout, each announced to every node with [`Msg::Reverted`] (the
//! reason is what `app show` prints):
//! - the coordinator: a moved instance not healthy and stable within the deadline;
//! - the host of a moved instance: its start of the new version failed, or it gave the
//!   instance up (unhealthy after its restarts) before it ever served. That host goes
//!   back to the old version at once instead of releasing the instance, so the group
//!   never loses a member to a bad update.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::msg::{BeatStatus, Health, Msg};
use super::node::{Node, Output};
use super::view::{AppEntry, View};
use super::{BEAT_EVERY, Millis, Peer, rendezvous};
use crate::model::Capacity;

/// How a coordinator rolls an update through its group (Nomad's `update` block:
/// `max_parallel`, `min_healthy_time`, `healthy_deadline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutPolicy {
    /// Instances moved at once. 1: an N-instance app keeps N − 1 serving throughout.
    pub max_parallel: u32,
    /// A moved instance must be healthy this long before the next step: 10 s, two beat
    /// periods, so one passing probe right after start does not count as a good version.
    pub min_healthy: Millis,
    /// A moved instance not healthy and stable this long after its move reverts the
    /// rollout: 5 minutes covers a slow image pull on a home connection.
    pub deadline: Millis,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        Self {
            max_parallel: 1,
            min_healthy: 10_000,
            deadline: 300_000,
        }
    }
}

/// A move order is sent again when its member still reports the old version after this
/// long: one beat period (the order or the member's beat was lost).
const MOVE_RESEND: Millis = BEAT_EVERY;

/// The coordinator's record of one rollout in progress.
#[derive(Debug, Clone)]
pub(crate) struct Rollout<P> {
    pub target: u64,
    /// Members ordered to move (or first seen moving), and when.
    pub moves: BTreeMap<P, Millis>,
    /// When each order was last sent.
    pub sent: BTreeMap<P, Millis>,
}

/// What a coordinator knows of one member for the rollout.
struct MemberState<P> {
    peer: P,
    version: u64,
    health: Health,
    healthy_since: Option<Millis>,
    score: u64,
}

impl<P: Peer> Node<P> {
    /// The version new instances of `app` start with and the group moves to: the view's
    /// target, or the good version when this node reverted the target itself (its own
    /// broadcast may not be in the view yet).
    pub(crate) fn target_version(&self, app: &str, view: &View<P>) -> Option<u64> {
        let target = view.target_version(app)?;
        match self.reverted.get(app) {
            Some(&(bad, good)) if bad == target => Some(good),
            _ => Some(target),
        }
    }

    /// Instances the group should have: the app's count, plus one while a member that
    /// cannot fit the new version is being replaced.
    pub(crate) fn wanted(&self, app: &str, entry: &AppEntry) -> usize {
        entry.record.demand.instances as usize + usize::from(self.surge.contains_key(app))
    }

    /// Whether a rollout is under way as far as this node can tell: a live member runs
    /// another version than the target, or has not said which it runs. The coordinator
    /// then leaves extras to the rollout, which stops the member it replaced; the
    /// scheduler's keep rule could stop the replacement instead (a coordinator that
    /// took over just after the replacement joined stopped it, and the old one placed
    /// another, every beat period).
    pub(crate) fn rolling(&self, app: &str, now: Millis, view: &View<P>) -> bool {
        let (Some(h), Some(target)) = (self.hosted.get(app), self.target_version(app, view)) else {
            return false;
        };
        h.version != target
            || h.group
                .values()
                .any(|m| m.alive(now) && m.version != target)
    }

    /// Whether member `p`'s host, as the view knows it, has room for spec `version` of the
    /// app in place of the version it runs.
    fn fits_move(&self, app: &str, p: P, from: u64, to: u64, view: &View<P>) -> bool {
        let (Some(old), Some(new)) = (view.record_of(app, from), view.record_of(app, to)) else {
            return true;
        };
        let (old, new) = (
            Capacity::from(old.demand.resources),
            Capacity::from(new.demand.resources),
        );
        if p == self.id {
            return new.fits_within(&self.free().saturating_add(old));
        }
        let Some(info) = view.info(p) else {
            return true;
        };
        let free = Capacity::from(info.total)
            .saturating_sub(Capacity::from(proto::tier::SYSTEM_RESERVE))
            .saturating_sub(Capacity::from(info.used))
            .saturating_add(old);
        new.fits_within(&free)
    }

    /// The coordinator's rollout step for every hosted app, each tick.
    pub(crate) fn tick_rollouts(&mut self, now: Millis, view: &View<P>, out: &mut Vec<Output<P>>) {
        let apps: Vec<Arc<str>> = self.hosted.keys().cloned().collect();
        for app in apps {
            if !self.is_coordinator(&app, now, view) {
                self.rollouts.remove(&app);
                continue;
            }
            self.step_rollout(&app, now, view, out);
        }
    }

    fn member_states(&self, app: &str, now: Millis, view: &View<P>) -> Vec<MemberState<P>> {
        let (Some(h), Some(e)) = (self.hosted.get(app), view.app(app)) else {
            return Vec::new();
        };
        let mut states = vec![MemberState {
            peer: self.id,
            version: h.version,
            health: if h.running {
                h.health
            } else {
                Health::Starting
            },
            healthy_since: h.healthy_since,
            score: rendezvous(e.hash, self.hash),
        }];
        for (&p, m) in &h.group {
            if m.alive(now) && m.last_heard > 0 && m.version != 0 {
                states.push(MemberState {
                    peer: p,
                    version: m.version,
                    health: m.health,
                    healthy_since: m.healthy_since,
                    score: rendezvous(e.hash, m.hash),
                });
            }
        }
        states
    }

    fn step_rollout(
        &mut self,
        app: &Arc<str>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(target) = self.target_version(app, view) else {
            return;
        };
        let policy = self.rollout_policy;
        let members = self.member_states(app, now, view);
        let behind: Vec<&MemberState<P>> = members.iter().filter(|m| m.version != target).collect();
        if behind.is_empty() {
            self.rollouts.remove(app);
            return;
        }
        let r = self.rollouts.entry(app.clone()).or_insert_with(|| Rollout {
            target,
            moves: BTreeMap::new(),
            sent: BTreeMap::new(),
        });
        if r.target != target {
            *r = Rollout {
                target,
                moves: BTreeMap::new(),
                sent: BTreeMap::new(),
            };
        }
        let stable = |m: &MemberState<P>| {
            m.version == target
                && m.health == Health::Healthy
                && m.healthy_since
                    .is_some_and(|t| now.saturating_sub(t) >= policy.min_healthy)
        };
        // Members on their way: moved and not yet stable, or ordered and not yet moved
        // (these are watched against the deadline), and any member not serving whatever
        // its version — one moving back after a revert still beats the version it
        // leaves, and a new coordinator has no record of having ordered it.
        let mut in_flight: Vec<P> = Vec::new();
        for m in &members {
            if m.version == target {
                if stable(m) {
                    r.moves.remove(&m.peer);
                } else {
                    r.moves.entry(m.peer).or_insert(now);
                    in_flight.push(m.peer);
                }
            } else if r.moves.contains_key(&m.peer) || m.health != Health::Healthy {
                in_flight.push(m.peer);
            }
        }
        // A group short of its count (a member died, a replacement is being placed) takes
        // no step: moving one more would leave fewer than N − 1 serving.
        let short = members.len()
            < view
                .app(app)
                .map_or(0, |e| e.record.demand.instances as usize);
        // A step that failed: not stable by the deadline. Only a rollout to the app's
        // latest spec is reverted; a revert that itself stalls just keeps being retried.
        let latest = view.app(app).map(|e| e.record.version);
        let late = r
            .moves
            .iter()
            .find(|&(p, &t)| in_flight.contains(p) && now.saturating_sub(t) >= policy.deadline)
            .map(|(&p, _)| p);
        if let (Some(p), Some(latest)) = (late, latest) {
            if latest == target {
                let good = members
                    .iter()
                    .filter(|m| m.version != target)
                    .map(|m| m.version)
                    .max()
                    .or_else(|| self.hosted.get(app).and_then(|h| h.previous))
                    .or_else(|| view.previous_version(app, target));
                if let Some(good) = good {
                    let reason = format!(
                        "instance on {p} not healthy for {} s within {} s of its move to version {target}",
                        policy.min_healthy / 1_000,
                        policy.deadline / 1_000
                    );
                    self.revert(app, target, good, reason, out);
                    return;
                }
            }
        }
        // A member being replaced (its host cannot fit the new version): once another
        // member is stable on the target and the group is back above the count, it stops.
        if let Some(&p) = self.surge.get(app) {
            let wanted = view
                .app(app)
                .map_or(0, |e| e.record.demand.instances as usize);
            let stable_count = members.iter().filter(|m| stable(m)).count();
            let others_on_target = members
                .iter()
                .filter(|m| m.peer != p && m.version == target)
                .count();
            if !members.iter().any(|m| m.peer == p) {
                self.surge.remove(app);
            } else if stable_count >= 1 && members.len() > wanted && others_on_target >= 1 {
                let in_flight_new = members
                    .iter()
                    .any(|m| m.peer != p && m.version == target && !stable(m));
                if !in_flight_new {
                    self.surge.remove(app);
                    if let Some(r) = self.rollouts.get_mut(app) {
                        r.moves.remove(&p);
                    }
                    self.stop_member(app, p, out);
                    return;
                }
            }
        }
        let Some(r) = self.rollouts.get(app) else {
            return;
        };
        // Orders lost or not yet acted on: sent again each beat period.
        let surging = self.surge.get(app).copied();
        let mut orders: Vec<P> = behind
            .iter()
            .map(|m| m.peer)
            .filter(|p| {
                Some(*p) != surging
                    && r.moves.contains_key(p)
                    && r.sent
                        .get(p)
                        .is_some_and(|&t| now.saturating_sub(t) >= MOVE_RESEND)
            })
            .collect();
        // The next step: the members still behind, the coordinator itself last (its own
        // instance moving does not end its role, but the others' beats keep flowing to it
        // while it restarts), then the lowest rendezvous score first.
        let free = if short {
            0
        } else {
            (policy.max_parallel.max(1) as usize).saturating_sub(in_flight.len())
        };
        let mut next: Vec<&&MemberState<P>> = behind
            .iter()
            .filter(|m| !r.moves.contains_key(&m.peer))
            .collect();
        next.sort_by_key(|m| (m.peer == self.id, m.score));
        let mut chosen: Vec<P> = Vec::new();
        // Members behind that do not serve anyway (the ones a revert sends back) move at
        // once: it costs no serving instance.
        type Pick<'a, P> = Vec<&'a &'a MemberState<P>>;
        let (down, up): (Pick<'_, P>, Pick<'_, P>) =
            next.into_iter().partition(|m| m.health != Health::Healthy);
        for m in down {
            if Some(m.peer) != surging {
                chosen.push(m.peer);
                orders.push(m.peer);
            }
        }
        for m in up.into_iter().take(free) {
            if Some(m.peer) == surging {
                continue;
            }
            if !self.fits_move(app, m.peer, m.version, target, view) {
                // No room for the new version there: place it elsewhere first, and stop
                // this member once that one is stable (one such member at a time).
                if surging.is_none() {
                    self.surge.insert(app.clone(), m.peer);
                    self.rerun.insert(app.clone(), now);
                    chosen.push(m.peer);
                }
                break;
            }
            chosen.push(m.peer);
            orders.push(m.peer);
        }
        if let Some(r) = self.rollouts.get_mut(app) {
            for &p in orders.iter().chain(&chosen) {
                r.moves.entry(p).or_insert(now);
                r.sent.insert(p, now);
            }
        }
        for p in orders {
            if p == self.id {
                self.move_to(app, target, now, view, out);
            } else {
                out.push(Output::Send(
                    p,
                    Msg::Move {
                        app: app.clone(),
                        coordinator: self.id,
                        node: p,
                        version: target,
                    },
                ));
            }
        }
    }

    /// Announces that the rollout of `bad` failed and the app goes back to `good`.
    pub(crate) fn revert(
        &mut self,
        app: &Arc<str>,
        bad: u64,
        good: u64,
        reason: String,
        out: &mut Vec<Output<P>>,
    ) {
        self.reverted.insert(app.clone(), (bad, good));
        self.rollouts.remove(app);
        // The extra instance placed for a member that could not fit goes like any extra.
        self.surge.remove(app);
        out.push(Output::Broadcast(Msg::Reverted {
            app: app.clone(),
            version: bad,
            good,
            by: self.id,
            reason: Arc::from(reason),
        }));
    }

    /// A [`Msg::Move`]: this node moves its instance when the order is for it, from a
    /// coordinator of its group, for a version its view holds and its host has room for.
    pub(crate) fn on_move(
        &mut self,
        order: &Msg<P>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let &Msg::Move {
            ref app,
            coordinator,
            node,
            version,
        } = order
        else {
            return;
        };
        let known = coordinator == self.id
            || self
                .hosted
                .get(app)
                .is_some_and(|h| h.group.contains_key(&coordinator));
        if node != self.id || !known {
            return;
        }
        // No room here for that version (the coordinator's view of this node was stale):
        // left as it is; the coordinator's deadline decides.
        let from = self.version_of_hosted(app);
        if !self.fits_move(app, self.id, from, version, view) {
            return;
        }
        self.move_to(app, version, now, view, out);
    }

    /// Moves this node's instance of `app` to spec `version` (the daemon prepares the new
    /// containers while the old ones serve, then swaps them).
    pub(crate) fn move_to(
        &mut self,
        app: &Arc<str>,
        version: u64,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(record) = view.record_of(app, version) else {
            // Not synced yet: the coordinator sends the order again.
            return;
        };
        let Some(h) = self.hosted.get_mut(app) else {
            return;
        };
        if h.version == version {
            return;
        }
        let cap = crate::model::Capacity::from(record.demand.resources);
        self.used = self.used.saturating_sub(h.cap).saturating_add(cap);
        h.cap = cap;
        h.previous = Some(h.version);
        h.version = version;
        h.moved_at = Some(now);
        h.running = false;
        h.health = Health::Starting;
        h.healthy_since = None;
        self.announce_dirty = true;
        out.push(Output::MoveApp {
            app: app.clone(),
            version,
        });
        // Still a location (it serves again within seconds), now starting: the ingress
        // takes it out of rotation before its old containers stop.
        out.push(Output::Broadcast(Msg::Running {
            node: self.id,
            app: app.clone(),
            running: true,
            health: Health::Starting,
            version,
        }));
        self.beat_group(app, BeatStatus::Starting, out);
    }

    /// The instance of `app` here failed on a version it moved to before it ever served
    /// there: the rollout is reverted and this host goes back to the version it ran.
    /// Returns false when that does not apply (an ordinary failure: the caller releases).
    pub(crate) fn failed_after_move(
        &mut self,
        app: &Arc<str>,
        what: &str,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) -> bool {
        let Some(h) = self.hosted.get(app) else {
            return false;
        };
        let (Some(previous), None) = (h.previous, h.healthy_since) else {
            return false;
        };
        if previous == h.version {
            return false;
        }
        let bad = h.version;
        if view.app(app).is_some_and(|e| e.record.version == bad) {
            let reason = format!("version {bad} on {}: {what}", self.id);
            self.revert(app, bad, previous, reason, out);
        }
        self.move_to(app, previous, now, view, out);
        // Back on a version that served: a failure of that one is an ordinary failure. It
        // stays listed as a location while it moves back (`moved_at`), or its group would
        // take it for gone and place another.
        if let Some(h) = self.hosted.get_mut(app) {
            h.previous = None;
        }
        true
    }

    /// The status and version a beat carries for `app`.
    pub(crate) fn version_of_hosted(&self, app: &str) -> u64 {
        self.hosted.get(app).map_or(0, |h| h.version)
    }

    /// Whether a beat says the instance serves (for rollout bookkeeping on beats).
    pub(crate) fn serving(status: BeatStatus, health: Health) -> bool {
        status == BeatStatus::Running && health == Health::Healthy
    }
}
