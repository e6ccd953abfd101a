//! `fluxnode ingress`: reach apps by name. Follows the network's locations through a
//! node's API (the `GET /api/v1/locations` long poll) and keeps a real HAProxy configured
//! the way Flux's FDM does: `<app>.<domain>` → the app's first port, `<app>_<port>.<domain>`
//! → each port, servers = the app's serving instances.
//!
//! A change of server addresses goes through HAProxy's runtime API (no reload); a change
//! of structure (apps, ports, slot counts, the sticky cookie) writes a new file, which
//! `haproxy -c` must accept before it replaces the running one, then a master-worker
//! reload. Either way no established connection is dropped.

pub mod haproxy;
pub mod metrics;
pub mod plan;
pub mod render;
pub mod slots;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use self::haproxy::Haproxy;
use self::metrics::IngressMetrics;
use self::plan::{Plan, Structure};
use self::render::Listeners;
use self::slots::Slots;
use crate::api::watch::LocationsSnapshot;

/// What went wrong, with what the operator should change.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error(
        "HAProxy refused the new configuration (haproxy -c), so the running one stays: {output}"
    )]
    Refused { output: String },
    #[error("cannot run {bin} (set --haproxy to the haproxy executable): {source}")]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source} (check --dir is a writable directory)")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HAProxy socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HAProxy runtime API refused `{command}`: {answer}")]
    Runtime { command: String, answer: String },
    #[error("HAProxy is not ready: {what}")]
    NotReady { what: String },
    #[error("node API {url}: {message} (check --api points at a running fluxnode)")]
    Api { url: String, message: String },
}

/// Everything the ingress needs to know.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Base URL of a node's API.
    pub api: String,
    /// Apps answer at `<app>.<domain>` and `<app>_<port>.<domain>`.
    pub domain: String,
    /// HAProxy listeners and admin socket.
    pub listen: Listeners,
    /// App ports served as plain TCP (a listener each) instead of HTTP by host name.
    pub tcp_ports: BTreeSet<u16>,
    pub haproxy: haproxy::Paths,
}

/// The ingress's state between two snapshots.
#[derive(Debug)]
pub struct Ingress {
    config: IngressConfig,
    haproxy: Haproxy,
    structure: Structure,
    slots: BTreeMap<String, Slots>,
    metrics: IngressMetrics,
}

impl Ingress {
    /// Starts HAProxy on the plan for `snap`.
    pub async fn start(
        config: IngressConfig,
        snap: &LocationsSnapshot,
        metrics: IngressMetrics,
    ) -> Result<Ingress, IngressError> {
        let plan = plan::plan(snap, &config.domain, &config.tcp_ports);
        let slots = initial_slots(&plan, &BTreeMap::new());
        let text = render::render(&plan, &config.listen, |b| {
            slots.get(b).cloned().unwrap_or_default()
        });
        let haproxy = Haproxy::start(config.haproxy.clone(), &text).await?;
        metrics.reloads.inc();
        let ingress = Ingress {
            structure: plan.structure(),
            config,
            haproxy,
            slots,
            metrics,
        };
        ingress.observe(&plan);
        Ok(ingress)
    }

    pub fn haproxy(&self) -> &Haproxy {
        &self.haproxy
    }

    pub fn haproxy_mut(&mut self) -> &mut Haproxy {
        &mut self.haproxy
    }

    /// Brings HAProxy to the plan for `snap`: runtime commands when only addresses
    /// changed, else a checked configuration and a reload. On error the running HAProxy
    /// keeps its last good state.
    pub async fn apply(&mut self, snap: &LocationsSnapshot) -> Result<(), IngressError> {
        let plan = plan::plan(snap, &self.config.domain, &self.config.tcp_ports);
        for why in &plan.skipped {
            tracing::warn!(reason = %why, "app name or port left out of the ingress");
        }
        let structure = plan.structure();
        if structure != self.structure {
            let slots = initial_slots(&plan, &self.slots);
            let text = render::render(&plan, &self.config.listen, |b| {
                slots.get(b).cloned().unwrap_or_default()
            });
            if let Err(e) = self.haproxy.replace(&text).await {
                if matches!(e, IngressError::Refused { .. }) {
                    self.metrics.refused.inc();
                }
                return Err(e);
            }
            self.metrics.reloads.inc();
            self.structure = structure;
            self.slots = slots;
            tracing::info!(backends = plan.backends.len(), "HAProxy reloaded");
        } else {
            let mut commands = Vec::new();
            let mut next = self.slots.clone();
            let mut touched = Vec::new();
            for b in plan.backends.values() {
                let current = self.slots.get(&b.name).cloned().unwrap_or_default();
                let (slots, changes) = slots::assign(&current, &b.servers, b.slots());
                if !changes.is_empty() {
                    commands.extend(slots::commands(&b.name, &changes));
                    touched.push(b.name.clone());
                }
                next.insert(b.name.clone(), slots);
            }
            if !commands.is_empty() {
                let answers = self.haproxy.runtime(&commands).await?;
                for backend in &touched {
                    self.verify(backend, &next[backend], &commands, &answers)
                        .await?;
                }
                self.metrics.runtime_updates.inc();
                tracing::info!(commands = commands.len(), "HAProxy servers updated");
            }
            self.slots = next;
        }
        self.observe(&plan);
        Ok(())
    }

    /// Checks HAProxy's live server list of `backend` against `slots`: every filled slot
    /// has its address and is out of maintenance, every empty one is in maintenance.
    async fn verify(
        &self,
        backend: &str,
        slots: &Slots,
        commands: &[String],
        answers: &str,
    ) -> Result<(), IngressError> {
        let live = self.haproxy.servers(backend).await?;
        for (i, want) in slots.iter().enumerate() {
            let name = format!("s{}", i + 1);
            let got = live.iter().find(|(n, _, _)| *n == name);
            let ok = match (want, got) {
                (Some(addr), Some((_, a, serving))) => a == addr && *serving,
                (None, Some((_, _, serving))) => !*serving,
                (_, None) => false,
            };
            if !ok {
                return Err(IngressError::Runtime {
                    command: commands.join("; "),
                    answer: format!(
                        "{backend}/{name} should be {want:?} but is {got:?}; HAProxy said: {}",
                        answers.trim()
                    ),
                });
            }
        }
        Ok(())
    }

    fn observe(&self, plan: &Plan) {
        self.metrics.backends.set(plan.backends.len() as i64);
        self.metrics.servers.set(plan.servers() as i64);
    }

    pub async fn stop(self) {
        self.haproxy.stop().await;
    }
}

/// Slots for a freshly written file: each backend keeps the slots it had (so cookies
/// stay valid across a reload) and takes in its new servers.
fn initial_slots(plan: &Plan, old: &BTreeMap<String, Slots>) -> BTreeMap<String, Slots> {
    plan.backends
        .values()
        .map(|b| {
            let current = old.get(&b.name).cloned().unwrap_or_default();
            let mut current: Slots = current.into_iter().take(b.slots()).collect();
            current.resize(b.slots(), None);
            (
                b.name.clone(),
                slots::assign(&current, &b.servers, b.slots()).0,
            )
        })
        .collect()
}

/// Follows the node's locations until `stop` completes.
pub async fn run(
    config: IngressConfig,
    metrics: IngressMetrics,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), IngressError> {
    let client = watch::WatchClient::new(&config.api)?;
    let (mut snap, mut etag) = client.first().await?;
    let mut ingress = Ingress::start(config, &snap, metrics.clone()).await?;
    tracing::info!("ingress serving");
    tokio::pin!(stop);
    loop {
        let next = tokio::select! {
            () = &mut stop => break,
            r = client.next(&etag) => r,
        };
        match next {
            Ok(Some((s, tag))) => {
                snap = s;
                etag = tag;
                metrics.snapshots.inc();
            }
            Ok(None) => {}
            Err(e) => {
                metrics.watch_errors.inc();
                tracing::warn!(error = %e, "following locations failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        }
        if !ingress.haproxy_mut().running() {
            return Err(IngressError::NotReady {
                what: "the HAProxy master exited".into(),
            });
        }
        if let Err(e) = ingress.apply(&snap).await {
            metrics.apply_errors.inc();
            tracing::error!(error = %e, "could not apply the locations to HAProxy");
            // Look again from scratch next time (the ETag would hide this snapshot).
            etag.clear();
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    ingress.stop().await;
    Ok(())
}
