//! Coordinator side: calls for bids, choosing winners, resending unacknowledged
//! assignments, and stopping extras.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::group::{live_members, pending_member};
use super::msg::Msg;
use super::node::{Input, Node, Output};
use super::view::View;
use super::{
    ACK_WAIT, DECLINE_MEMORY, Millis, Peer, RESERVE_SLACK, RETRY_AFTER, ROUND_WINDOW,
    UNRESPONSIVE_FOR, shortlist_len,
};
use crate::model::{NodeInfo, Params, Running};
use crate::schedule;

/// Resends of an assignment to a winner that has not acknowledged it. Two, each after
/// `ACK_WAIT`, both inside the winner's reservation (`RESERVE_SLACK`): with 1 % loss a
/// winner misses all three copies once in a million.
const MAX_RESENDS: u8 = 2;

/// One placement round this node coordinates for an app.
#[derive(Debug, Clone)]
pub(crate) struct Round<P> {
    pub id: u64,
    pub deadline: Millis,
    pub missing: usize,
    pub called: BTreeSet<P>,
    pub bids: BTreeSet<P>,
    pub declined: BTreeSet<P>,
    /// After the decision: the group sent out and the winners not yet heard from.
    pub decided: Option<Arc<[P]>>,
    pub unacked: BTreeSet<P>,
    pub resent: u8,
}

impl<P: Peer> Round<P> {
    pub fn acked(&mut self, p: P) {
        self.unacked.remove(&p);
    }

    fn answered(&self) -> bool {
        self.called
            .iter()
            .all(|p| self.bids.contains(p) || self.declined.contains(p))
    }
}

impl<P: Peer> Node<P> {
    /// Whether a round for `app` is still collecting bids (a decided round only waits for
    /// acknowledgements and does not block the next one).
    pub(crate) fn round_open(&self, app: &str) -> bool {
        self.rounds.get(app).is_some_and(|r| r.decided.is_none())
    }

    /// Starts a round for the instances `app` is missing, as its coordinator.
    pub(crate) fn start_round(
        &mut self,
        app: &Arc<str>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(entry) = view.app(app) else {
            return;
        };
        if !view.placeable(app, now) || self.round_open(app) {
            return;
        }
        let live = live_members(self, app, now);
        let wanted = self.wanted(app, entry);
        if live.len() >= wanted {
            return;
        }
        let missing = wanted - live.len();
        // Never call a node that may still run the app (live members, and dead ones the
        // running reports still place), that ignored this coordinator recently, or that
        // declined this app recently (the view's capacity figures lag behind
        // reservations; asking again would only hear the same answer). A dead member
        // nothing places is called like any node (one that runs the app after all
        // declines): after a heal, a late assignment of the other half's round named a
        // node that had already stopped its instance, and skipping it as a member kept
        // the three-daemon partition round a third short for `FORGET_AFTER`.
        let mut skip: BTreeSet<P> = BTreeSet::new();
        if let Some(h) = self.hosted.get(app) {
            let located: BTreeSet<P> = view.locations(app).iter().map(|&(p, _)| p).collect();
            skip.extend(
                h.group
                    .iter()
                    .filter(|(p, m)| m.alive(now) || located.contains(p))
                    .map(|(&p, _)| p),
            );
        }
        skip.extend(self.unresponsive.keys().copied());
        // Nodes whose placements did not come to serve, for their hold-off.
        skip.extend(self.standing.held_off_now(now));
        // (node, when it declined) for this app.
        let declined_at = |(k, &until): (&(Arc<str>, P), &Millis)| {
            (k.0 == *app).then_some((k.1, until.saturating_sub(DECLINE_MEMORY)))
        };
        let all_declined: BTreeSet<P> = skip
            .iter()
            .copied()
            .chain(self.declined.iter().filter_map(declined_at).map(|(p, _)| p))
            .collect();
        let mut candidates = view.candidates(
            app,
            &live,
            &all_declined,
            missing,
            shortlist_len(missing),
            now,
        );
        if candidates.is_empty() {
            // Nobody else to ask: nodes that declined more than `RETRY_AFTER` ago are
            // asked again. A decline can be stale the moment it arrives (a node declines
            // an app it runs, and stops running it a millisecond later when its
            // registration loses the name after a heal; the report that says so may
            // overtake the decline), and on a small network those nodes are the only
            // ones left: the three-daemon partition test stayed a third short for the
            // whole `DECLINE_MEMORY`. On a large one there is always someone else.
            skip.extend(
                self.declined
                    .iter()
                    .filter_map(declined_at)
                    .filter(|&(_, at)| at + RETRY_AFTER > now)
                    .map(|(p, _)| p),
            );
            if skip.len() < all_declined.len() {
                candidates =
                    view.candidates(app, &live, &skip, missing, shortlist_len(missing), now);
            }
        }
        if candidates.is_empty() {
            self.retry_later(app, now, live.is_empty());
            return;
        }
        let id = self.next_round;
        self.next_round += 1;
        let deadline = now + ROUND_WINDOW;
        let mut round = Round {
            id,
            deadline,
            missing,
            called: candidates.iter().copied().collect(),
            bids: BTreeSet::new(),
            declined: BTreeSet::new(),
            decided: None,
            unacked: BTreeSet::new(),
            resent: 0,
        };
        let call = Msg::CallForBids {
            app: app.clone(),
            round: id,
            coordinator: self.id,
            deadline,
        };
        for &p in &candidates {
            if p == self.id {
                // Answer our own call in place.
                let mut own = Vec::new();
                let bid = self.handle(
                    Input::Message {
                        from: self.id,
                        msg: &call,
                    },
                    now,
                    view,
                );
                own.extend(bid);
                for o in own {
                    match o {
                        Output::Send(_, Msg::Bid { .. }) => {
                            round.bids.insert(self.id);
                        }
                        Output::Send(_, Msg::Decline { .. }) => {
                            round.declined.insert(self.id);
                        }
                        other => out.push(other),
                    }
                }
            } else {
                out.push(Output::Send(p, call.clone()));
            }
        }
        self.rounds.insert(app.clone(), round);
        out.push(Output::SetTimer(deadline));
    }

    /// Schedules another round: with a group, its coordinator's next reconcile after the
    /// pause; with no group at all (`empty`), this node's takeover timer.
    fn retry_later(&mut self, app: &Arc<str>, now: Millis, empty: bool) {
        self.retry_at.insert(app.clone(), now + RETRY_AFTER);
        if empty {
            self.watch.insert(app.clone(), now + RETRY_AFTER);
        }
    }

    pub(crate) fn on_answer(
        &mut self,
        msg: &Msg<P>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let (app, round, node, bid) = match msg {
            Msg::Bid { app, round, node } => (app, *round, *node, true),
            Msg::Decline { app, round, node } => (app, *round, *node, false),
            _ => return,
        };
        let Some(r) = self.rounds.get_mut(app) else {
            return;
        };
        if r.id != round || r.decided.is_some() || !r.called.contains(&node) {
            return;
        }
        if bid {
            r.bids.insert(node);
        } else {
            r.declined.insert(node);
            self.declined
                .insert((app.clone(), node), now + DECLINE_MEMORY);
        }
        if r.answered() {
            self.decide(app, now, view, out);
        }
    }

    pub(crate) fn tick_rounds(&mut self, now: Millis, view: &View<P>, out: &mut Vec<Output<P>>) {
        let apps: Vec<Arc<str>> = self.rounds.keys().cloned().collect();
        for app in apps {
            let Some(r) = self.rounds.get_mut(&app) else {
                continue;
            };
            match r.decided.clone() {
                None if now >= r.deadline => self.decide(&app, now, view, out),
                None => {}
                Some(group) => {
                    let due = r.deadline + ACK_WAIT * (u64::from(r.resent) + 1);
                    if r.resent < MAX_RESENDS && now >= due && !r.unacked.is_empty() {
                        r.resent += 1;
                        let msg = Msg::Assignment {
                            app: app.clone(),
                            round: r.id,
                            coordinator: self.id,
                            group,
                        };
                        for &p in &r.unacked {
                            out.push(Output::Send(p, msg.clone()));
                        }
                        out.push(Output::SetTimer(now + ACK_WAIT));
                    }
                    if now >= r.deadline + RESERVE_SLACK + ACK_WAIT {
                        // Winners never heard from after every resend have lost their
                        // reservation: count them out now rather than after START_GRACE.
                        let silent: Vec<P> = r.unacked.iter().copied().collect();
                        self.rounds.remove(&app);
                        if let Some(h) = self.hosted.get_mut(&app) {
                            let mut dropped = false;
                            for p in silent {
                                if h.group.get(&p).is_some_and(|m| {
                                    m.deadline > now
                                        && m.last_heard
                                            <= m.deadline.saturating_sub(super::START_GRACE)
                                }) {
                                    h.group.remove(&p);
                                    dropped = true;
                                }
                            }
                            if dropped {
                                self.rerun.insert(app.clone(), now);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Chooses the winners among the bidders with the scheduler (the live members count as
    /// running), and sends the new group to every called node, every member and the
    /// app's home and backups.
    fn decide(&mut self, app: &Arc<str>, now: Millis, view: &View<P>, out: &mut Vec<Output<P>>) {
        let Some(mut r) = self.rounds.remove(app) else {
            return;
        };
        let Some(entry) = view.app(app) else {
            return;
        };
        let live = live_members(self, app, now);
        let mut nodes: Vec<NodeInfo> = Vec::new();
        let mut peer_of: BTreeMap<String, P> = BTreeMap::new();
        // A bidder struck since it was called (its placement elsewhere did not serve) is
        // not picked.
        let bidders = r.bids.iter().filter(|&&p| !self.standing.held_off(p, now));
        for &p in live.iter().chain(bidders) {
            if peer_of.values().any(|&q| q == p) {
                continue;
            }
            let Some(info) = view.info(p) else {
                continue;
            };
            let mut info = info.clone();
            if r.bids.contains(&p) {
                // The bid is the node's own word that the capacity is free and reserved;
                // its announced load still ranks it (free share) as far as it leaves room.
                info.used = info.used_leaving_room(entry.record.demand.resources.into());
            }
            peer_of.insert(info.id.clone(), p);
            nodes.push(info);
        }
        let running: Vec<Running> = live
            .iter()
            .filter_map(|p| view.info(*p))
            .map(|i| Running::new(app.as_ref(), i.id.clone()))
            .collect();
        let mut demand = entry.record.demand.clone();
        demand.height = entry.height;
        demand.expire = entry.expire;
        // One more while a member that cannot fit a new version is being replaced.
        demand.instances = self.wanted(app, entry) as u32;
        let params = Params {
            height: Some(view.height(now)),
            ..view.params.clone()
        };
        let mut group: Vec<P> = Vec::new();
        let mut winners: Vec<P> = Vec::new();
        if let Ok(o) = schedule(&nodes, std::slice::from_ref(&demand), &running, &params) {
            if let Some(pl) = o.placements.first() {
                group.extend(pl.keep.iter().filter_map(|id| peer_of.get(id).copied()));
                winners.extend(pl.nodes.iter().filter_map(|id| peer_of.get(id).copied()));
            }
        }
        // Members the scheduler did not see (unknown to the view) stay in the group.
        for &p in &live {
            if !group.contains(&p) {
                group.push(p);
            }
        }
        group.extend(winners.iter().copied());
        // Members silent for three beat periods are left out of what newcomers learn: still
        // live here until `DEAD_AFTER`, but a newcomer that becomes coordinator would
        // otherwise take them for live for as long again, and a second member lost in the
        // same failure would wait that long for its replacement. A newcomer still learns
        // them from running reports, as dead until they beat.
        if let Some(h) = self.hosted.get(app) {
            group.retain(|p| h.group.get(p).is_none_or(|m| !m.suspected(now)));
        }
        let group: Arc<[P]> = Arc::from(group);
        let msg = Msg::Assignment {
            app: app.clone(),
            round: r.id,
            coordinator: self.id,
            group: group.clone(),
        };
        let mut to: BTreeSet<P> = r.called.clone();
        to.extend(live.iter().copied());
        to.extend(view.homes(app));
        for &p in &r.called {
            if !r.bids.contains(&p) && !r.declined.contains(&p) {
                self.unresponsive.insert(p, now + UNRESPONSIVE_FOR);
            }
        }
        for &p in &to {
            if p != self.id {
                out.push(Output::Send(p, msg.clone()));
            }
        }
        if to.contains(&self.id) || winners.contains(&self.id) {
            let own = self.handle(
                Input::Message {
                    from: self.id,
                    msg: &msg,
                },
                now,
                view,
            );
            out.extend(own);
        }
        for &w in &winners {
            if w != self.id {
                self.standing.placed(app, w, now);
            }
        }
        if let Some(h) = self.hosted.get_mut(app) {
            for &w in &winners {
                if w != self.id {
                    // A dead member called again starts over as a new one.
                    let m = h.group.entry(w).or_insert_with(|| pending_member(w, now));
                    if !m.alive(now) {
                        *m = pending_member(w, now);
                    }
                }
            }
        }
        if winners.len() < r.missing {
            if self.hosted.contains_key(app) {
                // Short: ask the next candidates (decliners are skipped) at the next tick
                // instead of waiting for the next beat period.
                self.rerun.insert(app.clone(), now + super::TICK);
            } else {
                self.retry_later(app, now, live.is_empty() && winners.is_empty());
            }
        }
        r.unacked = winners.iter().copied().filter(|&w| w != self.id).collect();
        r.decided = Some(group);
        self.rounds.insert(app.clone(), r);
        out.push(Output::SetTimer(now + ACK_WAIT));
    }

    /// Instances the running reports place on live nodes that this group has never heard
    /// from: the other half of a healed partition, which placed the app again while cut
    /// off. Their beats reach this group within a beat period (`group_duties` adds them
    /// and beats them); placing for them meanwhile made extras that the merged group then
    /// stopped, and stopping by coordinators that did not yet know each other placed
    /// again (`fluxnode sim --node-ledgers` with a partition: apps above N 30 s after
    /// the heal). Only instances reported within two beat periods count (a start just
    /// made): a member this group lost, or one silent since before this node joined, has
    /// an older report, and its replacement never waits for this.
    fn unheard_instances(
        &self,
        app: &Arc<str>,
        live: &BTreeSet<P>,
        now: Millis,
        view: &View<P>,
    ) -> usize {
        let Some(h) = self.hosted.get(app) else {
            return 0;
        };
        view.locations(app)
            .iter()
            .filter(|&&(p, reported)| {
                now.saturating_sub(reported) < 2 * super::BEAT_EVERY
                    && !live.contains(&p)
                    && !h.left.contains_key(&p)
                    && view.is_live(p, now)
                    && h.group.get(&p).is_none_or(|m| m.last_heard == 0)
            })
            .count()
    }

    /// As coordinator of a hosted app: start a round for missing instances, or stop the
    /// extras the scheduler's keep rule ranks lowest.
    pub(crate) fn reconcile(
        &mut self,
        app: &Arc<str>,
        now: Millis,
        view: &View<P>,
        out: &mut Vec<Output<P>>,
    ) {
        let Some(entry) = view.app(app) else {
            return;
        };
        let wanted = self.wanted(app, entry);
        let live = live_members(self, app, now);
        if live.len() < wanted {
            if live.len() + self.unheard_instances(app, &live, now, view) < wanted
                && !self.retry_at.contains_key(app)
            {
                self.start_round(app, now, view, out);
            }
            return;
        }
        // During a surge the rollout stops the member being replaced itself, once its
        // replacement is stable; the scheduler's choice could stop the replacement.
        if live.len() == wanted
            || self.round_open(app)
            || self.surge.contains_key(app)
            || self.rolling(app, now, view)
        {
            return;
        }
        let mut nodes = Vec::new();
        let mut peer_of = BTreeMap::new();
        for &p in &live {
            if let Some(i) = view.info(p) {
                peer_of.insert(i.id.clone(), p);
                nodes.push(i.clone());
            }
        }
        let running: Vec<Running> = nodes
            .iter()
            .map(|n| Running::new(app.as_ref(), n.id.clone()))
            .collect();
        let mut demand = entry.record.demand.clone();
        demand.height = entry.height;
        demand.expire = entry.expire;
        let Ok(o) = schedule(
            &nodes,
            std::slice::from_ref(&demand),
            &running,
            &view.params,
        ) else {
            return;
        };
        if o.stop.is_empty() {
            return;
        }
        // Beat every member now, before the stopped ones' goodbyes reach them: a member
        // that has not yet heard this coordinator (the other half of a healed partition)
        // would otherwise take itself for coordinator, see the goodbyes and place the
        // stopped instances again (`fluxnode sim --node-ledgers`, seed 447).
        let status = self.status_of(app);
        self.beat_group(app, status, out);
        for s in o.stop {
            if let Some(&p) = peer_of.get(&s.node) {
                self.stop_member(app, p, out);
            }
        }
    }

    /// As coordinator: stops member `p`'s instance of `app` (this node's own at once).
    pub(crate) fn stop_member(&mut self, app: &Arc<str>, p: P, out: &mut Vec<Output<P>>) {
        if p == self.id {
            out.push(Output::StopApp(app.clone()));
            self.release(app, out);
        } else {
            out.push(Output::Send(
                p,
                Msg::Stop {
                    app: app.clone(),
                    coordinator: self.id,
                    node: p,
                },
            ));
        }
    }
}
