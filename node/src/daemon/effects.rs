//! Carrying out the protocol's outputs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use proto::health::Health;
use proto::keys::NodeId;
use proto::message::{Message, RunningApp, RunningReport, SpecHash, Topic};
use proto::tier::Resources;
use scheduler::protocol::{Input, Millis, Msg, Output, PersistRecord};

use super::{Daemon, TaskDone, wire};
use crate::metrics::ErrorLabel;
use crate::network::topic_label;
use crate::store::Tree;

/// Logs placement traffic at debug level (`RUST_LOG=fluxnode=debug`): calls, bids,
/// assignments and stops tell an operator how an app was placed. Beats are every 5 s per
/// group member, so they go to trace.
fn log_placement(dir: &'static str, peer: NodeId, msg: &Msg<NodeId>) {
    let app = msg.app().unwrap_or("");
    if matches!(msg, Msg::Beat { .. }) {
        tracing::trace!(dir, %peer, app, kind = msg.kind(), "placement message");
    } else {
        tracing::debug!(dir, %peer, app, kind = msg.kind(), "placement message");
    }
}

/// What a hosting record stores (the `assignments` tree, one key per app).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HostingRecord {
    pub running: bool,
}

/// What a standing record stores (the `standing` tree, one key per node id): this node's
/// strikes against that node and when its hold-off ends (unix ms).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StandingRecord {
    pub count: u32,
    pub until_ms: Millis,
}

impl Daemon {
    /// Feeds one input to the protocol and carries out everything that follows, including
    /// messages this node sends to itself (a coordinator may call itself for bids).
    pub(super) fn drive(&mut self, input: Input<'_, NodeId>) {
        let now = self.clock.now();
        if let Input::Message { from, msg } = &input {
            log_placement("received", *from, msg);
            self.check_host_ports(msg);
        }
        let outs = self.node.handle(input, now, &self.view);
        let mut queue: VecDeque<Output<NodeId>> = outs.into();
        let mut own: VecDeque<Msg<NodeId>> = VecDeque::new();
        loop {
            while let Some(out) = queue.pop_front() {
                if let Some(msg) = self.effect(out, now) {
                    own.push_back(msg);
                }
            }
            let Some(msg) = own.pop_front() else { break };
            self.count_bid_outcome(&msg);
            self.check_host_ports(&msg);
            let id = self.id;
            queue.extend(self.node.handle(
                Input::Message {
                    from: id,
                    msg: &msg,
                },
                now,
                &self.view,
            ));
        }
        self.metrics
            .reservations_open
            .set(self.node.open_reservations() as i64);
        self.metrics
            .rollouts_in_progress
            .set(self.node.rollouts().count() as i64);
    }

    /// One output. Returns a message addressed to this node itself, to be handled next.
    fn effect(&mut self, out: Output<NodeId>, now: Millis) -> Option<Msg<NodeId>> {
        match out {
            Output::Broadcast(msg) => self.broadcast(msg, now),
            Output::Send(to, msg) => {
                if let Msg::Bid { app, round, .. } = &msg {
                    self.on_bid_placed(app, *round, now);
                }
                if to == self.id {
                    return Some(msg);
                }
                log_placement("sent", to, &msg);
                self.send(to, &msg, now);
            }
            Output::StartApp(app) => {
                tracing::debug!(app = %app, "starting app");
                self.start_app(app)
            }
            Output::MoveApp { app, version } => self.move_app(app, version),
            Output::StopApp(app) => self.remove_app(app, false),
            Output::RemoveApp(app) => {
                let pruned = self.expired_apps.remove(&app);
                let expired = pruned
                    || self
                        .view
                        .removal_height(&app)
                        .is_some_and(|r| self.view.height(now) >= r);
                self.remove_app(app, expired)
            }
            Output::Persist(rec) => self.persist(&rec),
            Output::SetTimer(at) => {
                self.next_timer = Some(self.next_timer.map_or(at, |t| t.min(at)));
            }
        }
        None
    }

    fn broadcast(&mut self, msg: Msg<NodeId>, now: Millis) {
        match &msg {
            Msg::Announce { .. } => {
                let uptime = self.started.elapsed().as_secs();
                let Some(a) = wire::announcement(&msg, &self.facts, now, uptime) else {
                    return;
                };
                // This node is a member of its own view: coordinators rank themselves too.
                if let Some((info, m)) = self.members.on_announcement(&a, now) {
                    self.view.upsert_member(self.id, info, now);
                    let _ = self.view.apply(&m, now);
                    self.view.refresh(now);
                }
                self.last_announcement = Some(a.clone());
                self.publish(Message::Announcement(a), now);
            }
            Msg::Running { .. } => {
                let _ = self.view.apply(&msg, now);
                let report = self.running_report();
                self.publish(Message::RunningReport(report), now);
            }
            Msg::Gone { .. } => {
                // Its own `Gone` forgets the host's report as a peer's does: without it the
                // host's unchanged report after a heal changed nothing, and the ingress
                // behind this node left a serving instance out for good (e2e `partition`
                // then `ingress`).
                self.apply_gone(&msg, now);
                if let Some(m) = wire::placement_to_wire(&msg, Resources::default()) {
                    self.publish(m, now);
                }
            }
            Msg::Register(_) | Msg::Renew { .. } | Msg::Cancel { .. } | Msg::Update(_) => {
                // Owner actions are published by the API path with the owner's signature.
                let _ = self.view.apply(&msg, now);
            }
            Msg::Reverted { .. } => {
                self.take_revert(&msg, now);
                if let Some(m) = wire::placement_to_wire(&msg, Resources::default()) {
                    self.publish(m, now);
                }
            }
            _ => {
                if let Some(m) = wire::placement_to_wire(&msg, self.instance_of(msg.app())) {
                    self.publish(m, now);
                }
            }
        }
        self.update_app_gauges();
    }

    /// This node's running apps with the hash of the spec each runs.
    pub(super) fn running_report(&self) -> RunningReport {
        let apps = self
            .node
            .hosted()
            .filter(|(app, running)| *running || self.node.listed(app))
            .map(|(app, running)| {
                let version = self.node.version_of(app).unwrap_or(0);
                RunningApp {
                    health: if running {
                        self.node.health_of(app).unwrap_or(Health::Starting)
                    } else {
                        Health::Starting
                    },
                    app: app.to_string(),
                    spec_hash: self
                        .registry
                        .spec_json_at(app, version)
                        .map(|j| SpecHash::of(j.as_bytes()))
                        .unwrap_or(SpecHash([0; 32])),
                    version,
                }
            })
            .collect();
        RunningReport {
            node: self.id,
            apps,
        }
    }

    /// What one instance of `app` needs (quoted in bids).
    pub(super) fn instance_of(&self, app: Option<&str>) -> Resources {
        app.and_then(|a| self.view.app(a))
            .map(|e| e.record.demand.resources)
            .unwrap_or_default()
    }

    /// Signs and gossips a message.
    pub(super) fn publish(&mut self, message: Message, now: Millis) {
        let topic = message.topic();
        match proto::encoding::seal(&self.key, now, &message) {
            Ok(env) => {
                if let Err(e) = self.network.try_publish(topic, env) {
                    tracing::warn!(kind = message.kind(), error = %e, "gossip not sent");
                    self.error("network");
                }
            }
            Err(e) => {
                tracing::error!(kind = message.kind(), error = %e, "message could not be sealed");
                self.error("encode");
            }
        }
    }

    fn send(&mut self, to: NodeId, msg: &Msg<NodeId>, now: Millis) {
        let Some(message) = wire::placement_to_wire(msg, self.instance_of(msg.app())) else {
            return;
        };
        self.send_message(to, message, now);
    }

    /// A bid leaves (to a peer or to this node as coordinator): count it and remember when
    /// its reservation lapses; its app is prepared if it is still open after
    /// [`super::bids::PREPARE_AFTER`] ([`Daemon::prepare_due`]).
    fn on_bid_placed(&mut self, app: &Arc<str>, round: u64, now: Millis) {
        self.metrics.bids_placed.inc();
        let lapses = now + scheduler::protocol::ROUND_WINDOW + scheduler::protocol::RESERVE_SLACK;
        self.bids.open(app.clone(), round, lapses, now);
    }

    /// Prepares the apps of bids open for [`super::bids::PREPARE_AFTER`].
    pub(super) fn prepare_due(&mut self, now: Millis) {
        for app in self.bids.due(now) {
            self.prepare_app(&app);
        }
    }

    /// Signs a message and sends it to one peer in the background.
    pub(super) fn send_message(&mut self, to: NodeId, message: Message, now: Millis) {
        let kind = message.kind();
        let topic = message.topic();
        let env = match proto::encoding::seal(&self.key, now, &message) {
            Ok(env) => env,
            Err(e) => {
                tracing::error!(kind, error = %e, "message could not be sealed");
                self.error("encode");
                return;
            }
        };
        let net = self.network.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = net.send_direct(to, env).await {
                tracing::debug!(%to, kind, error = %e, "direct message not delivered");
                metrics
                    .errors
                    .get_or_create(&ErrorLabel { kind: "network" })
                    .inc();
            } else {
                tracing::trace!(%to, kind, topic = topic_label(topic), "sent");
            }
        });
    }

    /// Pulls the images and creates the network of an app this node bids on, so winning
    /// costs only creating and starting containers.
    fn prepare_app(&mut self, app: &str) {
        let Some(plan) = self.plan_of(app) else {
            return;
        };
        let rt = self.runtime.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            match rt.prepare(&plan).await {
                Ok(report) => {
                    for p in report.pulls.iter().filter(|p| p.pulled) {
                        metrics
                            .image_pull_duration
                            .observe(p.duration.as_secs_f64());
                    }
                }
                Err(e) => {
                    tracing::debug!(app = %plan.app, error = %e, "preparing for a bid failed; the start will retry");
                }
            }
        });
    }

    /// The plan of the spec version this node's instance of `app` runs (the app's
    /// current one when it hosts none).
    pub(super) fn plan_of(&self, app: &str) -> Option<crate::runtime::AppPlan> {
        let version = self
            .node
            .version_of(app)
            .or_else(|| self.registry.app(app).map(|a| a.record.version))?;
        let spec = self.registry.spec_at(app, version)?;
        let hash = SpecHash::of(self.registry.spec_json_at(app, version)?.as_bytes()).to_string();
        match crate::runtime::AppPlan::from_spec(spec, &hash) {
            Ok(plan) => Some(plan),
            Err(e) => {
                tracing::warn!(app, error = %e, "app spec cannot be run here");
                None
            }
        }
    }

    fn start_app(&mut self, app: Arc<str>) {
        if self.starting.contains(&app) {
            return;
        }
        if !self.can_run() {
            // Not ready (Docker does not answer, or the store is broken): refuse the
            // assignment at once instead of failing the start later.
            self.outcomes
                .not_runnable(&app, "this node is not ready to run containers");
            self.drive(Input::ContainerFailed { app });
            return;
        }
        let Some(plan) = self.plan_of(&app) else {
            // Not runnable here: give the instance back so another node takes it.
            self.outcomes
                .not_runnable(&app, "its spec does not make a runnable plan here");
            self.drive(Input::ContainerFailed { app });
            return;
        };
        self.outcomes.starting(&app);
        self.starting.insert(app.clone());
        let rt = self.runtime.clone();
        self.tasks.spawn(async move {
            let result = rt.start_app(plan).await;
            TaskDone::Started { app, result }
        });
    }

    /// A rolling-update step: `start_app` with the plan of `version` pulls its images while
    /// the old containers serve, then replaces the containers of the old spec hash (data
    /// kept). Answered like a start, with `ContainerStarted` or `ContainerFailed`.
    fn move_app(&mut self, app: Arc<str>, version: u64) {
        self.metrics.instance_moves.inc();
        // The old version's probes must not speak for the new containers.
        self.probes.stop(&app);
        let Some(plan) = self.plan_of(&app) else {
            self.outcomes.not_runnable(
                &app,
                "the spec of this version does not make a runnable plan here",
            );
            self.drive(Input::ContainerFailed { app });
            return;
        };
        tracing::info!(app = %app, version, spec_hash = %plan.spec_hash, "moving the instance to another spec version");
        self.outcomes.starting(&app);
        self.starting.insert(app.clone());
        let rt = self.runtime.clone();
        self.tasks.spawn(async move {
            let result = rt.start_app(plan).await;
            TaskDone::Started { app, result }
        });
    }

    pub(super) fn remove_app(&mut self, app: Arc<str>, expired: bool) {
        let rt = self.runtime.clone();
        self.tasks.spawn(async move {
            let result = rt.remove_app(&app).await;
            TaskDone::Removed {
                app,
                expired,
                result,
            }
        });
    }

    fn persist(&mut self, rec: &PersistRecord<NodeId>) {
        let t = Instant::now();
        let r = match rec {
            PersistRecord::Hosting { app, running } => {
                self.store
                    .put(Tree::Assignments, app, &HostingRecord { running: *running })
            }
            PersistRecord::Released { app } => {
                self.store.delete(Tree::Assignments, app).map(|_| ())
            }
            PersistRecord::Standing { node, strikes } => {
                self.metrics.placement_strikes.inc();
                tracing::warn!(
                    %node,
                    strikes = strikes.count,
                    held_off_s = strikes.until.saturating_sub(self.clock.now()) / 1_000,
                    "a placement on this node never served while the app served elsewhere; not calling it for bids until its hold-off ends"
                );
                self.store.put(
                    Tree::Standing,
                    &node.to_string(),
                    &StandingRecord {
                        count: strikes.count,
                        until_ms: strikes.until,
                    },
                )
            }
        };
        self.metrics
            .store_flush_duration
            .observe(t.elapsed().as_secs_f64());
        // Counted in `fluxnode_errors_total{kind="store"}` by the store itself.
        if let Err(e) = r {
            tracing::error!(error = %e, "store write failed");
        }
    }

    /// Handles a finished runtime task.
    pub(super) fn on_task(&mut self, done: TaskDone) {
        match done {
            TaskDone::Started { app, result } => {
                self.starting.remove(&app);
                match result {
                    Ok(report) => {
                        self.metrics
                            .container_start_duration
                            .observe(report.elapsed.as_secs_f64());
                        for p in report.pulls.iter().filter(|p| p.pulled) {
                            self.metrics
                                .image_pull_duration
                                .observe(p.duration.as_secs_f64());
                        }
                        if !self.node.hosted().any(|(a, _)| *a == app) {
                            // Cancelled, stopped or given up while it was starting: the
                            // removal ran before the start finished and found nothing to
                            // remove, so these containers would run on for nobody.
                            tracing::info!(app = %app, "started after this node let it go; removing it");
                            self.remove_app(app, false);
                            return;
                        }
                        tracing::info!(app = %app, ms = report.elapsed.as_millis() as u64, "app running");
                        self.outcomes.running(&app);
                        self.drive(Input::ContainerStarted { app });
                    }
                    Err(e) => {
                        tracing::warn!(app = %app, error = %e, "app failed to start; releasing it");
                        self.outcomes.failed(&app, &e);
                        self.error(e.kind().as_str());
                        self.drive(Input::ContainerFailed { app });
                    }
                }
            }
            TaskDone::Removed {
                app,
                expired,
                result,
            } => match result {
                Ok(_) => {
                    self.metrics.app_removals.inc();
                    if expired {
                        self.metrics.apps_expired.inc();
                    }
                    tracing::info!(app = %app, expired, "app removed");
                }
                Err(e) => {
                    tracing::warn!(app = %app, error = %e, "removing the app failed");
                    self.error(e.kind().as_str());
                }
            },
        }
        self.update_app_gauges();
    }

    pub(super) fn error(&self, kind: &'static str) {
        self.metrics
            .errors
            .get_or_create(&ErrorLabel { kind })
            .inc();
    }

    /// Counts a dropped message by topic and reason (same family as the network's own
    /// rejections, so one query shows every reason).
    pub(super) fn rejected(&self, topic: Topic, reason: &'static str) {
        self.metrics
            .messages_rejected
            .get_or_create(&crate::metrics::RejectLabels {
                topic: topic_label(topic),
                reason,
            })
            .inc();
    }
}
