//! The service task's side of health: a probe task per running instance
//! ([`crate::health`]), give-ups (unhealthy past its restarts, crash loop, a failed
//! restart) turned into [`Input::GiveUp`], and the engine ping that keeps a hung Docker
//! engine from stalling anything.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proto::health::Health;
use scheduler::protocol::Input;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::Daemon;
use crate::health::ProbeEvent;
use crate::runtime::{ErrorKind, Runtime};

/// The engine is pinged this often, off the service task.
pub const ENGINE_PING_EVERY: Duration = Duration::from_secs(5);

/// A ping unanswered for this long counts as an engine that does not answer. A healthy
/// engine answers in milliseconds; a busy one (a big pull, a slow disk) within a second.
pub const ENGINE_PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Probe tasks and their event channel.
#[derive(Debug)]
pub(super) struct Probes {
    tasks: BTreeMap<Arc<str>, JoinHandle<()>>,
    tx: mpsc::UnboundedSender<ProbeEvent>,
    pub rx: mpsc::UnboundedReceiver<ProbeEvent>,
}

impl Default for Probes {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tasks: BTreeMap::new(),
            tx,
            rx,
        }
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}

/// Pings the engine every [`ENGINE_PING_EVERY`] with [`ENGINE_PING_TIMEOUT`]; the
/// receiver holds whether the last ping was answered.
pub(super) fn spawn_engine_pinger(rt: Runtime, initial: bool) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(initial);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(ENGINE_PING_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let ok = matches!(
                tokio::time::timeout(ENGINE_PING_TIMEOUT, rt.ping()).await,
                Ok(Ok(()))
            );
            tx.send_if_modified(|v| std::mem::replace(v, ok) != ok);
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}

impl Probes {
    /// Stops the probe task of `app` (its containers are being replaced).
    pub(super) fn stop(&mut self, app: &str) {
        if let Some(t) = self.tasks.remove(app) {
            t.abort();
        }
    }
}

impl Daemon {
    /// One probe task per running instance; none for anything else.
    pub(super) fn sync_probes(&mut self) {
        let running: Vec<Arc<str>> = self
            .node
            .hosted()
            .filter(|(_, r)| *r)
            .map(|(a, _)| a.clone())
            .collect();
        self.probes.tasks.retain(|app, task| {
            let keep = running.contains(app) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for app in running {
            if self.probes.tasks.contains_key(&app)
                || !self.runtime.managed_apps().iter().any(|a| **a == *app)
            {
                continue;
            }
            let task = crate::health::spawn(
                app.clone(),
                self.runtime.clone(),
                self.probes.tx.clone(),
                self.metrics.health_probe_failures.clone(),
            );
            self.probes.tasks.insert(app, task);
        }
    }

    pub(super) fn on_probe_event(&mut self, ev: ProbeEvent) {
        match ev {
            ProbeEvent::Health { app, health } => {
                if self.node.health_of(&app).is_some_and(|h| h != health) {
                    match health {
                        Health::Unhealthy => tracing::warn!(%app, "instance unhealthy"),
                        _ => tracing::info!(%app, %health, "instance health"),
                    }
                }
                self.drive(Input::Health { app, health });
                self.update_app_gauges();
            }
            ProbeEvent::GiveUp { app, reason } => self.give_up(app, &reason),
        }
    }

    /// Gives a hosted instance up for the network to re-place (see [`Input::GiveUp`]).
    pub(super) fn give_up(&mut self, app: Arc<str>, reason: &str) {
        if self.node.health_of(&app).is_none() {
            return;
        }
        tracing::warn!(%app, %reason, "giving the instance up; the network places it elsewhere");
        self.metrics.instances_given_up.inc();
        if let Some(t) = self.probes.tasks.remove(&app) {
            t.abort();
        }
        self.drive(Input::GiveUp { app });
    }

    /// A restart the supervisor could not do: the instance is given up, unless the engine
    /// itself is the problem (then nothing could start anywhere on this node, and the
    /// engine ping already keeps the node from bidding).
    pub(super) fn on_restart_failed(&mut self, app: &str, kind: ErrorKind, message: &str) {
        if matches!(kind, ErrorKind::DaemonUnreachable | ErrorKind::Timeout) {
            return;
        }
        self.give_up(Arc::from(app), &format!("restart failed: {message}"));
    }

    pub(super) fn on_engine(&mut self, ok: bool) {
        if ok != self.docker_ok {
            if ok {
                tracing::info!("Docker engine answers again; bidding resumes");
            } else {
                tracing::error!(
                    timeout = ?ENGINE_PING_TIMEOUT,
                    "Docker engine does not answer; not ready, no bids until it does"
                );
            }
        }
        self.docker_ok = ok;
        self.metrics.docker_engine_up.set(i64::from(ok));
        self.drive(Input::Engine { ok });
    }
}
