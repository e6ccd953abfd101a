//! The group side of a hosted app: heartbeats, goodbyes, liveness of members, learning
//! members from the registry, and the coordinator duty each beat period.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::msg::{BeatStatus, Health, Msg};
use super::node::{Node, Output, PersistRecord};
use super::view::View;
use super::{
    DEAD_AFTER, FORGET_AFTER, LEFT_MEMORY, Millis, Peer, START_GRACE, SUSPECT_AFTER, name_hash,
    rendezvous,
};

#[derive(Debug, Clone)]
pub(crate) struct GroupMember {
    pub hash: u64,
    /// Alive until this time unless a newer beat moves it.
    pub deadline: Millis,
    pub restart_until: Option<Millis>,
    pub last_heard: Millis,
    /// The health its last beat carried.
    pub health: Health,
    /// The spec version its last beat carried (0: not heard yet).
    pub version: u64,
    /// Healthy in every beat since this time, on `version` (rollout steps wait on it).
    pub healthy_since: Option<Millis>,
}

impl GroupMember {
    pub fn alive(&self, now: Millis) -> bool {
        now < self.deadline || self.restart_until.is_some_and(|u| now < u)
    }

    /// Heard from once but silent for [`SUSPECT_AFTER`], and not in a planned restart.
    pub fn suspected(&self, now: Millis) -> bool {
        self.last_heard > 0
            && now.saturating_sub(self.last_heard) >= SUSPECT_AFTER
            && self.restart_until.is_none_or(|u| now >= u)
    }
}

impl<P: Peer> Node<P> {
    /// A [`Msg::Beat`] from a member (anything else is ignored).
    pub(crate) fn on_beat(
        &mut self,
        beat: &Msg<P>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let &Msg::Beat {
            ref app,
            node,
            status,
            restart_until,
            health,
            version,
        } = beat
        else {
            return;
        };
        if let Some(r) = self.rounds.get_mut(app) {
            r.acked(node);
        }
        if node == self.id {
            return;
        }
        match status {
            BeatStatus::Running if health == Health::Healthy => self.served(app, node, now, out),
            BeatStatus::Leaving => self.gave_back(app, node, now, view, out),
            _ => {}
        }
        let Some(h) = self.hosted.get_mut(app) else {
            return;
        };
        if status == BeatStatus::Leaving {
            if h.group.remove(&node).is_some() {
                // One short now (a member gave its instance up or was stopped): whoever
                // coordinates the group re-places it at the next tick, not the next beat.
                self.rerun.entry(app.clone()).or_insert(now);
            }
            h.left.insert(node, now);
            return;
        }
        if h.left
            .get(&node)
            .is_some_and(|&t| now.saturating_sub(t) < LEFT_MEMORY)
        {
            return;
        }
        let m = h.group.entry(node).or_insert_with(|| GroupMember {
            deadline: now,
            ..pending_member(node, now)
        });
        // A beat proves liveness from now on: the start grace of a newly assigned member
        // ends with its first beat (a starting node beats on the same schedule), so a node
        // that dies just after winning is replaced as fast as any other.
        m.deadline = now + DEAD_AFTER;
        m.restart_until = restart_until;
        m.last_heard = now;
        m.health = health;
        if !Self::serving(status, health) || m.version != version {
            m.healthy_since = None;
        }
        if Self::serving(status, health) && m.healthy_since.is_none() {
            m.healthy_since = Some(now);
        }
        m.version = version;
    }

    /// `node` reported its instance of `app` healthy: strikes for the placements given back
    /// before the app served anywhere (see [`super::standing`]).
    pub(crate) fn served(&mut self, app: &str, node: P, now: Millis, out: &mut Vec<Output<P>>) {
        for (node, strikes) in self.standing.served(app, node, now) {
            out.push(Output::Persist(PersistRecord::Standing { node, strikes }));
        }
    }

    /// `node` gave its instance of `app` back (a goodbye beat or a not-running report): a
    /// strike when this node assigned it, it never served, and the app serves elsewhere
    /// (see [`super::standing`]).
    pub(crate) fn gave_back(
        &mut self,
        app: &Arc<str>,
        node: P,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        if !self.standing.watches(app, node) {
            return;
        }
        if !self.hosted.contains_key(app) {
            // Placed by this node as the app's home (its whole group was gone): a winner
            // that gives it back before serving is replaced after the short pause of a
            // failed round, not after the orphan pause of 2 × START_GRACE — with a whole
            // group lost and the first winners' starts failing (a registry that refused
            // the pull at that moment), that pause alone took the real recovery past 60 s.
            if let Some(t) = self.retry_at.get_mut(app) {
                *t = (*t).min(now + super::RETRY_AFTER);
            }
        }
        let here = node != self.id && self.health_of(app) == Some(Health::Healthy);
        let serves_elsewhere = here
            || view
                .locations(app)
                .iter()
                .any(|&(q, _)| q != node && view.health(app, q) == Health::Healthy);
        if let Some(strikes) = self.standing.gave_back(app, node, serves_elsewhere, now) {
            out.push(Output::Persist(PersistRecord::Standing { node, strikes }));
        }
    }

    pub(crate) fn beat(&self, app: &Arc<str>, status: BeatStatus) -> Msg<P> {
        Msg::Beat {
            app: app.clone(),
            node: self.id,
            status,
            restart_until: self.restart_until,
            health: self.health_of(app).unwrap_or(Health::Unhealthy),
            version: self.version_of_hosted(app),
        }
    }

    /// Sends a beat to every member of the app's group (dead ones too, until forgotten:
    /// that is how two halves of a healed partition find each other).
    pub(crate) fn beat_group(&self, app: &Arc<str>, status: BeatStatus, out: &mut Vec<Output<P>>) {
        let Some(h) = self.hosted.get(app) else {
            return;
        };
        let msg = self.beat(app, status);
        for &p in h.group.keys() {
            out.push(Output::Send(p, msg.clone()));
        }
    }

    /// Drops an instance: frees its capacity, tells the group and the registry.
    pub(crate) fn release(&mut self, app: &Arc<str>, out: &mut Vec<Output<P>>) {
        let Some(h) = self.hosted.get(app) else {
            return;
        };
        // Sent twice: a lost goodbye would leave this node counted as a member (and the
        // app one short) until its beats are missed for `DEAD_AFTER`.
        let msg = self.beat(app, BeatStatus::Leaving);
        let assigner = h.assigned_by.filter(|c| !h.group.contains_key(c));
        for _ in 0..2 {
            for &p in h.group.keys().chain(assigner.iter()) {
                out.push(Output::Send(p, msg.clone()));
            }
        }
        let cap = h.cap;
        self.hosted.remove(app);
        self.used = self.used.saturating_sub(cap);
        self.announce_dirty = true;
        out.push(Output::Persist(PersistRecord::Released {
            app: app.clone(),
        }));
        out.push(Output::Broadcast(Msg::Running {
            node: self.id,
            app: app.clone(),
            running: false,
            health: Health::Unhealthy,
            version: 0,
        }));
    }

    /// Every beat period, for each hosted app: removal at expiry + grace or cancel; beats;
    /// learning members from running reports; and, as the group's coordinator, re-placing
    /// missing instances or stopping extras.
    pub(crate) fn group_duties(&mut self, now: Millis, view: &View<P>, out: &mut Vec<Output<P>>) {
        let height = view.height(now);
        let apps: Vec<Arc<str>> = self.hosted.keys().cloned().collect();
        for app in apps {
            let entry = view.app(&app);
            let removable = entry.is_none_or(|e| e.cancelled)
                || view.removal_height(&app).is_some_and(|r| height >= r);
            if removable && entry.is_some() {
                out.push(Output::RemoveApp(app.clone()));
                self.release(&app, out);
                continue;
            }
            let status = self.status_of(&app);
            if let Some(h) = self.hosted.get_mut(&app) {
                h.group
                    .retain(|_, m| now.saturating_sub(m.deadline) < FORGET_AFTER);
                h.left.retain(|_, t| now.saturating_sub(*t) < LEFT_MEMORY);
                for (p, _) in view.locations(&app) {
                    if p != self.id && !h.group.contains_key(&p) && !h.left.contains_key(&p) {
                        // Known only from the registry: dead until it beats back.
                        h.group.insert(
                            p,
                            GroupMember {
                                hash: name_hash(&p.to_string()),
                                deadline: now,
                                restart_until: None,
                                last_heard: 0,
                                health: Health::Starting,
                                version: 0,
                                healthy_since: None,
                            },
                        );
                    }
                }
            }
            self.beat_group(&app, status, out);
            if self.is_coordinator(&app, now, view) {
                self.reconcile(&app, now, view, out);
            }
        }
    }

    /// The coordinator of a hosted app: the live member (this node included) with the
    /// highest rendezvous score.
    pub(crate) fn is_coordinator(&self, app: &Arc<str>, now: Millis, view: &View<P>) -> bool {
        let (Some(h), Some(e)) = (self.hosted.get(app), view.app(app)) else {
            return false;
        };
        let mine = rendezvous(e.hash, self.hash);
        !h.group
            .values()
            .any(|m| m.alive(now) && rendezvous(e.hash, m.hash) > mine)
    }
}

pub(crate) fn pending_member<P: Peer>(p: P, now: Millis) -> GroupMember {
    GroupMember {
        hash: name_hash(&p.to_string()),
        deadline: now + START_GRACE,
        restart_until: None,
        last_heard: now,
        health: Health::Starting,
        version: 0,
        healthy_since: None,
    }
}

/// A member this node learns from an assignment rather than from its own beats. The
/// coordinator counted it live, and every live member beats a newcomer within one beat
/// period of the assignment (it adds the newcomer to its group map on the same
/// assignment), so three periods of silence mean it is gone. A longer grace here is what
/// let a second member that died at the same time as the first hide behind a newly joined
/// coordinator for the whole start grace (found with `fluxnode sim --kill`).
pub(crate) fn named_member<P: Peer>(p: P, now: Millis) -> GroupMember {
    GroupMember {
        deadline: now + SUSPECT_AFTER,
        ..pending_member(p, now)
    }
}

/// Live members of a hosted app's group, this node included.
pub(crate) fn live_members<P: Peer>(node: &Node<P>, app: &str, now: Millis) -> BTreeSet<P> {
    let mut live = BTreeSet::new();
    if let Some(h) = node.hosted.get(app) {
        live.insert(node.id);
        live.extend(
            h.group
                .iter()
                .filter(|(_, m)| m.alive(now))
                .map(|(&p, _)| p),
        );
    }
    live
}
