//! What the health probes need from Docker: one container's state (running, Docker's own
//! health status, its address on the app network) and a restart of one component. Every
//! call is bounded by a timeout, so a hung engine delays a probe by that much and never
//! longer.

use std::net::IpAddr;
use std::time::Duration;

use bollard::query_parameters::{InspectContainerOptions, RestartContainerOptions};

use super::error::{Op, RuntimeError};
use super::{Runtime, RuntimeEvent};

/// One component of a running instance, as the prober sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTarget {
    pub component: String,
    pub container: String,
    pub container_ports: Vec<u16>,
    pub env: Vec<String>,
}

/// Docker's health status of a container whose image declares a `HEALTHCHECK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerHealth {
    Starting,
    Healthy,
    Unhealthy,
}

/// One container's state at a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeState {
    pub running: bool,
    /// `None` when the image has no `HEALTHCHECK`.
    pub docker_health: Option<DockerHealth>,
    /// The container's address on its app network.
    pub ip: Option<IpAddr>,
}

impl Runtime {
    /// The components of a managed app, for probing; `None` when it is not managed here.
    pub fn probe_targets(&self, app: &str) -> Option<Vec<ProbeTarget>> {
        let apps = self.apps();
        let a = apps.get(app)?;
        Some(
            a.containers
                .iter()
                .map(|c| {
                    let plan = a.plan.components.iter().find(|p| p.name == c.component);
                    ProbeTarget {
                        component: c.component.clone(),
                        container: c.name.clone(),
                        container_ports: plan
                            .map(|p| p.container_ports.clone())
                            .unwrap_or_default(),
                        env: plan.map(|p| p.env.clone()).unwrap_or_default(),
                    }
                })
                .collect(),
        )
    }

    /// Inspects one container, giving up after `timeout`.
    pub async fn probe_state(
        &self,
        app: &str,
        container: &str,
        timeout: Duration,
    ) -> Result<ProbeState, RuntimeError> {
        let network = super::plan::network_name(app);
        let call = async {
            let docker = self.inner.engine.client().await?;
            docker
                .inspect_container(container, None::<InspectContainerOptions>)
                .await
                .map_err(|e| {
                    self.inner
                        .engine
                        .classify(e, Op::Other("inspecting a container"))
                })
        };
        let info = bounded(timeout, "inspecting a container", call).await?;
        let state = info.state.unwrap_or_default();
        let docker_health = state.health.and_then(|h| h.status).and_then(|s| match s {
            bollard::models::HealthStatusEnum::STARTING => Some(DockerHealth::Starting),
            bollard::models::HealthStatusEnum::HEALTHY => Some(DockerHealth::Healthy),
            bollard::models::HealthStatusEnum::UNHEALTHY => Some(DockerHealth::Unhealthy),
            _ => None,
        });
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(&network))
            .and_then(|e| e.ip_address)
            .and_then(|s| s.parse().ok());
        Ok(ProbeState {
            running: state.running.unwrap_or(false),
            docker_health,
            ip,
        })
    }

    /// Restarts one component of an unhealthy instance (Docker's stop grace, then start),
    /// bounded by `timeout`; counted like the supervisor's restarts.
    pub async fn restart_component(
        &self,
        app: &str,
        component: &str,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let name = self
            .apps()
            .get(app)
            .and_then(|a| a.containers.iter().find(|c| c.component == component))
            .map(|c| c.name.clone())
            .ok_or_else(|| RuntimeError::InvalidPlan {
                app: app.to_owned(),
                field: "component".into(),
                reason: format!("{app} has no component {component} here"),
            })?;
        let lock = self.app_lock(app);
        let _guard = lock.lock().await;
        let call = async {
            let docker = self.inner.engine.client().await?;
            docker
                .restart_container(
                    &name,
                    Some(RestartContainerOptions {
                        t: Some(2),
                        signal: None,
                    }),
                )
                .await
                .map_err(|e| {
                    self.inner
                        .engine
                        .classify(e, Op::Start { container: &name })
                })
        };
        let r = bounded(timeout, "restarting a container", call).await;
        let restarts = {
            let mut apps = self.apps();
            let now = std::time::Instant::now();
            apps.get_mut(app)
                .and_then(|a| a.containers.iter_mut().find(|c| c.component == component))
                .map_or(0, |c| {
                    c.restart.on_restart(now);
                    c.restart.restarts
                })
        };
        let r = self.count(r);
        if r.is_ok() {
            self.inner.counters.restarted();
            self.emit(RuntimeEvent::ContainerRestarted {
                app: app.to_owned(),
                component: component.to_owned(),
                restarts,
            });
        }
        r
    }
}

async fn bounded<T>(
    timeout: Duration,
    what: &'static str,
    call: impl std::future::Future<Output = Result<T, RuntimeError>>,
) -> Result<T, RuntimeError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(RuntimeError::Timeout {
            op: what.to_owned(),
            seconds: timeout.as_secs().max(1),
        }),
    }
}
