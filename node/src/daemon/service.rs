//! The service loop and its input handlers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use proto::encoding::Opened;
use proto::keys::NodeId;
use proto::message::{Message, Topic};
use scheduler::protocol::{Input, Msg, TICK, UNREACHABLE_AFTER};
use tokio::sync::broadcast::error::RecvError;

use scheduler::ledger::Change;

use super::registry::{Accepted, Origin};
use super::{Daemon, PLANNED_RESTART_WINDOW};
use crate::network::NetworkEvent;
use crate::runtime::RuntimeEvent;

/// Longest wait for in-flight container starts and removals at shutdown: Docker's own
/// stop grace (10 s) plus a start that is creating containers; a pull still running after
/// that is abandoned (the image is pulled again on the next start).
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(20);

/// Time for the planned-restart announcement to leave before the network stops.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(500);

impl Daemon {
    /// Runs until `shutdown` resolves (SIGTERM), then announces a planned restart, waits
    /// for in-flight runtime work and returns. Containers are left running.
    pub async fn run(
        mut self,
        mut events: tokio::sync::mpsc::Receiver<NetworkEvent>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut runtime_events = self.runtime.subscribe();
        let mut watchdog = tokio::time::interval(Duration::from_secs(10));
        // Docker is pinged off this task: a hung engine must not stall beats and gossip.
        let mut engine = super::probes::spawn_engine_pinger(self.runtime.clone(), self.docker_ok);
        self.on_engine(self.docker_ok);
        tokio::pin!(shutdown);
        self.node.announce_soon();
        self.drive(Input::Tick);
        loop {
            let now = self.clock.now();
            let wake = self.next_timer.unwrap_or(now + TICK).min(now + TICK);
            let sleep = tokio::time::sleep(Duration::from_millis(wake.saturating_sub(now)));
            let prepare_at = self.bids.next_due();
            let prepare = tokio::time::sleep(Duration::from_millis(
                prepare_at.map_or(0, |t| t.saturating_sub(now)),
            ));
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.on_network(ev),
                    None => {
                        tracing::error!("network service stopped; shutting down");
                        break;
                    }
                },
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => match done {
                    Ok(done) => self.on_task(done),
                    Err(e) => tracing::error!(error = %e, "runtime task panicked"),
                },
                Some(req) = self.requests.recv() => self.on_request(req),
                ev = runtime_events.recv() => self.on_runtime_event(ev),
                _ = sleep => self.on_tick(),
                _ = prepare, if prepare_at.is_some() => self.prepare_due(self.clock.now()),
                _ = watchdog.tick() => self.on_watchdog(),
                Ok(()) = engine.changed() => {
                    let ok = *engine.borrow_and_update();
                    self.on_engine(ok);
                }
                Some(ev) = self.probes.rx.recv() => self.on_probe_event(ev),
                Ok(()) = self.bench_reports.changed() => self.on_bench_report(),
                _ = &mut shutdown => break,
            }
        }
        self.on_shutdown().await;
    }

    fn on_tick(&mut self) {
        let now = self.clock.now();
        if self.next_timer.is_some_and(|t| t <= now) {
            self.next_timer = None;
        }
        let t = std::time::Instant::now();
        self.prune_ledger();
        self.flush_registry();
        self.resync(now);
        self.expire_unreachable(now);
        self.view.refresh(now);
        self.sweep_host_ports(now);
        self.drive(Input::Tick);
        self.metrics
            .reconcile_duration
            .observe(t.elapsed().as_secs_f64());
        self.expire_bids(now);
        self.update_app_instance_gauges(now);
        self.sync_probes();
    }

    fn on_watchdog(&mut self) {
        let could_run = self.can_run();
        self.volumes = self.runtime.fixed_volumes();
        // A store broken by a full disk reopens here once space is free, even when
        // nothing writes to it.
        self.store.probe();
        if self.can_run() != could_run {
            tracing::warn!(ready = !could_run, "ability to run containers changed");
            self.readiness_changed();
        }
        super::startup::notify_watchdog();
    }

    fn on_runtime_event(&mut self, ev: Result<RuntimeEvent, RecvError>) {
        match ev {
            Ok(RuntimeEvent::ContainerRestarted {
                app,
                component,
                restarts,
            }) => {
                tracing::info!(%app, %component, restarts, "container restarted");
                self.metrics.container_restarts.inc();
            }
            Ok(RuntimeEvent::RestartFailed {
                app,
                component,
                kind,
                message,
            }) => {
                tracing::warn!(%app, %component, %message, "container restart failed");
                self.error(kind.as_str());
                self.on_restart_failed(&app, kind, &message);
            }
            Ok(RuntimeEvent::CrashLoop {
                app,
                component,
                crashes,
            }) => {
                self.give_up(
                    Arc::from(app.as_str()),
                    &format!("{component} crashed {crashes} times in a row"),
                );
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "runtime events missed"),
            Err(RecvError::Closed) => {}
        }
    }

    pub(super) fn on_network(&mut self, ev: NetworkEvent) {
        match ev {
            NetworkEvent::Message {
                message, origin, ..
            } => self.on_message(message, origin == crate::network::Origin::Direct),
            NetworkEvent::PeerConnected(peer) => {
                self.peers.insert(peer);
                self.disconnected.remove(&peer);
                self.drive(Input::Reconnected { peer });
                self.sync_peer(peer);
                self.node.announce_soon();
            }
            NetworkEvent::PeerDisconnected(peer) => {
                self.peers.remove(&peer);
                self.sync_answered.remove(&peer);
                self.disconnected.insert(peer, self.clock.now());
            }
            NetworkEvent::GossipHealth(health) => self.gossip = health,
        }
    }

    /// Peers gone from the network for [`UNREACHABLE_AFTER`] leave the membership view
    /// now, not after three missed announcements: a group whose every member died is then
    /// an orphan within about a minute.
    fn expire_unreachable(&mut self, now: u64) {
        let gone: Vec<NodeId> = self
            .disconnected
            .iter()
            .filter(|(_, since)| now.saturating_sub(**since) >= UNREACHABLE_AFTER)
            .map(|(p, _)| *p)
            .collect();
        for p in gone {
            self.disconnected.remove(&p);
            if self.view.is_live(p, now) {
                tracing::info!(peer = %p, "peer unreachable for 30 s; taken for dead");
                self.view.member_unreachable(p, now);
            }
        }
    }

    /// Brings a newly connected peer up to date: gossip carries no history, so it gets this
    /// node's latest announcement, running report and every owner action held, directly.
    fn sync_peer(&mut self, peer: NodeId) {
        let now = self.clock.now();
        let mut msgs: Vec<Message> = Vec::new();
        if let Some(mut a) = self.last_announcement.clone() {
            // Re-signed now: the stored one may be older than receivers accept.
            a.seq = now.max(a.seq + 1);
            self.last_announcement = Some(a.clone());
            msgs.push(Message::Announcement(a));
        }
        msgs.push(Message::RunningReport(self.running_report()));
        msgs.push(Message::LedgerSummary(self.ledger_summary()));
        for m in msgs {
            self.send_message(peer, m, now);
        }
    }

    /// `direct`: sent to this node alone. Owner actions come so only from anti-entropy.
    fn on_message(&mut self, opened: Opened, direct: bool) {
        let now = self.clock.now();
        let from = opened.signer;
        let sent_ms = opened.timestamp_ms;
        if from == self.id {
            return;
        }
        let height = self.clock.height();
        match opened.message {
            Message::Announcement(a) => {
                if !self.admit(&a, now) {
                    return;
                }
                if let Some((info, msg)) = self.members.on_announcement(&a, now) {
                    self.view.upsert_member(a.node, info, now);
                    let _ = self.view.apply(&msg, now);
                    self.view.refresh(now);
                }
            }
            Message::RunningReport(r) => {
                for msg in self.members.on_running_report(&r, sent_ms) {
                    let _ = self.view.apply(&msg, now);
                    // The protocol watches what its placements come to (standing).
                    self.drive(Input::Message { from, msg: &msg });
                }
            }
            Message::LedgerSummary(s) => self.on_ledger_summary(from, &s),
            Message::MemberGone(g) => {
                let msg = Msg::Gone {
                    app: Arc::from(g.app.as_str()),
                    node: g.node,
                    by: g.by,
                };
                if self.apply_gone(&msg, now) {
                    tracing::info!(app = %g.app, node = %g.node, by = %g.by, "host gone for its group; no longer a location");
                }
                self.drive(Input::Message { from, msg: &msg });
            }
            Message::RolloutReverted(r) => {
                if let Some(msg) =
                    super::wire::placement_from_wire(&Message::RolloutReverted(r.clone()))
                {
                    self.take_revert(&msg, now);
                    self.drive(Input::Message { from, msg: &msg });
                }
            }
            m @ (Message::AppRegistration(_)
            | Message::AppRenewal(_)
            | Message::AppCancel(_)
            | Message::AppUpdate(_)) => match self.registry.receive(m, height, Origin::Peer) {
                Ok(acc) => self.apply_owner_action(acc, false, direct),
                Err(e) => self.owner_action_refused(&e),
            },
            other => {
                if let Some(msg) = super::wire::placement_from_wire(&other) {
                    self.count_bid_outcome(&msg);
                    self.drive(Input::Message { from, msg: &msg });
                }
            }
        }
    }

    fn owner_action_refused(&self, e: &super::registry::RegistryError) {
        tracing::debug!(error = %e, "owner action refused");
        self.rejected(Topic::Apps, "registry");
    }

    /// Applies a group's `Gone` (a peer's or this node's own) to the view. When the host
    /// stops being a location, its last running report is forgotten too, so its next
    /// report lists the app as new again and a host that comes back (a healed partition)
    /// is located again. Returns whether the location went.
    pub(super) fn apply_gone(
        &mut self,
        msg: &Msg<NodeId>,
        now: scheduler::protocol::Millis,
    ) -> bool {
        let Msg::Gone { app, node, .. } = msg else {
            return false;
        };
        let located = |d: &Self| d.view.locations(app).iter().any(|l| l.0 == *node);
        let had = located(self);
        let _ = self.view.apply(msg, now);
        let went = had && !located(self);
        if went {
            self.members.forget(node, app);
        }
        went
    }

    /// Relays an accepted owner action when it came from the API (gossip relays itself)
    /// and carries its consequences to the view and the protocol.
    /// `synced`: the action came by anti-entropy (see [`Daemon::apply_ledger_changes`]).
    pub(super) fn apply_owner_action(&mut self, acc: Accepted, publish: bool, synced: bool) {
        if !acc.new {
            return;
        }
        if publish {
            let now = self.clock.now();
            self.publish(acc.message.clone(), now);
        }
        self.apply_ledger_changes(&acc.changes, synced);
    }

    /// Brings the view in line with changes of the ledger and lets the protocol act on
    /// them: a new app's home starts a round; hosts of a cancelled app, or of one whose
    /// registration lost its name to an earlier one, remove it.
    ///
    /// An app learnt by anti-entropy (`synced`) is not a new registration to this node:
    /// its home learnt it when it was made, and it runs, or is being placed, already. The
    /// protocol is not told of it as a registration (as at start-up, where the stored
    /// ledger goes to the view alone); were it told, a node that just joined — knowing
    /// few members yet, and so taking itself for the home of many apps — placed every app
    /// it was home for a second time (the 20-daemon run: 28 apps above their count once
    /// replacement nodes joined). One that runs nowhere becomes an orphan and its home
    /// places it.
    pub(super) fn apply_ledger_changes(&mut self, changes: &[Change], synced: bool) {
        if changes.is_empty() {
            return;
        }
        let now = self.clock.now();
        let mut msgs = Vec::new();
        for ch in changes {
            if ch.replaced() {
                if let (Some(b), Some(a)) = (&ch.before, &ch.after) {
                    tracing::info!(app = %a.name(), lost = %b.owner(), holder = %a.owner(), "an earlier registration holds the name");
                }
            }
            // A node that learns an app late (it just joined and the ledger arrived by
            // sync) has usually been told where it runs already: every peer sends its
            // running report on connecting, before the ledger. The view kept those
            // reports and locates the app with them, so its home does not take it for a
            // new one and place it a second time.
            msgs.extend(self.view.apply_ledger_change(ch, now));
        }
        self.view.refresh(now);
        let id = self.id;
        for msg in msgs {
            if synced && matches!(msg, Msg::Register(_)) {
                continue;
            }
            self.drive(Input::Message {
                from: id,
                msg: &msg,
            });
        }
    }

    /// Apps whose end has passed leave the ledger (and the store).
    pub(super) fn prune_ledger(&mut self) {
        match self.registry.prune(self.clock.height()) {
            Ok(changes) => {
                // An app that leaves uncancelled reached its removal height: its hosts'
                // removal is an expiry (the view no longer knows its height by then).
                for ch in &changes {
                    if let (Some(b), None) = (&ch.before, &ch.after) {
                        if !b.cancelled() {
                            self.expired_apps.insert(b.name().clone());
                        }
                    }
                }
                self.apply_ledger_changes(&changes, false)
            }
            Err(e) => {
                tracing::error!(error = %e, "pruning the app ledger failed");
                self.error("store");
            }
        }
    }

    /// Writes the owner actions staged since the last tick (from peers, prunes).
    pub(super) fn flush_registry(&mut self) {
        if let Err(e) = self.registry.flush() {
            tracing::error!(error = %e, "storing the app ledger failed");
            self.error("store");
        }
    }

    /// Bids won and lost: an assignment for a round this node bid in decides it; a bid
    /// whose reservation lapsed without one was lost.
    pub(super) fn count_bid_outcome(&mut self, msg: &Msg<NodeId>) {
        if let Msg::Assignment {
            app, round, group, ..
        } = msg
        {
            if let Some(closed) = self.bids.close(app, *round) {
                if group.contains(&self.id) {
                    self.metrics.bids_won.inc();
                    // What was prepared is the app's own now.
                    if !self.bids.bidding(app) {
                        self.bids.settled(app);
                    }
                } else {
                    self.metrics.bids_lost.inc();
                    if closed.prepared {
                        self.undo_lost_bid(app.clone());
                    }
                }
            }
        }
    }

    /// Removes what was prepared for a lost bid (network, volumes, created containers),
    /// unless the app runs or starts here after all, or another bid for it is still open.
    fn undo_lost_bid(&mut self, app: Arc<str>) {
        let hosted = self.node.hosted().any(|(a, _)| *a == app);
        let bidding = self.bids.bidding(&app);
        if bidding {
            return;
        }
        // Either way the prepared objects are settled: the app's own now, or removed.
        self.bids.settled(&app);
        if hosted || self.starting.contains(&app) {
            return;
        }
        let rt = self.runtime.clone();
        tokio::spawn(async move {
            if let Err(e) = rt.unprepare(&app).await {
                tracing::debug!(app = %app, error = %e, "cleaning up after a lost bid failed");
            }
        });
    }

    /// Bids whose reservation lapsed without an assignment were lost.
    fn expire_bids(&mut self, now: scheduler::protocol::Millis) {
        for (app, closed) in self.bids.lapse(now) {
            self.metrics.bids_lost.inc();
            if closed.prepared {
                self.undo_lost_bid(app);
            }
        }
    }

    async fn on_shutdown(&mut self) {
        self.stopping = true;
        let until = self.clock.now() + PLANNED_RESTART_WINDOW;
        tracing::info!("stopping: announcing a planned restart; containers stay running");
        super::startup::notify_stopping();
        self.drive(Input::PlannedRestart { until });
        self.drive(Input::Tick);
        let drain = async {
            while let Some(done) = self.tasks.join_next().await {
                if let Ok(done) = done {
                    self.on_task(done);
                }
            }
        };
        if tokio::time::timeout(SHUTDOWN_DRAIN, drain).await.is_err() {
            tracing::warn!("runtime work still running at shutdown; abandoned");
        }
        self.flush_registry();
        tokio::time::sleep(SHUTDOWN_FLUSH).await;
    }
}
