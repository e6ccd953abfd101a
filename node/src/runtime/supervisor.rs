//! Keeps managed containers running: restarts the crashed ones with backoff, recreates
//! the ones that disappeared.
//!
//! Docker's own restart policy is off for fluxnode containers (`restart: no`) so that
//! restarts follow [`super::BackoffPolicy`], are counted, and reach the protocol as events.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::StartContainerOptions;

use super::error::{Op, RuntimeError};
use super::{Runtime, RuntimeEvent};

/// What one supervision pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuperviseReport {
    /// Containers checked.
    pub checked: usize,
    /// (app, component) restarted or recreated in this pass.
    pub restarted: Vec<(String, String)>,
    /// (app, component) down and waiting for their backoff delay.
    pub waiting: Vec<(String, String)>,
}

impl Runtime {
    /// One pass over every managed container. Apps being started or removed right now
    /// are skipped (their own call owns them).
    pub async fn supervise_once(&self) -> Result<SuperviseReport, RuntimeError> {
        let r = self.supervise_inner().await;
        self.count(r)
    }

    async fn supervise_inner(&self) -> Result<SuperviseReport, RuntimeError> {
        let docker = self.inner.engine.client().await?;
        let list = self
            .list_containers(&docker, Some(self.node_filter(None)))
            .await?;
        // name -> (id, running)
        let seen: HashMap<String, (String, bool)> = list
            .into_iter()
            .filter_map(|c| {
                let name = c.names?.first()?.trim_start_matches('/').to_owned();
                let running = matches!(
                    c.state,
                    Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
                        | Some(bollard::models::ContainerSummaryStateEnum::RESTARTING)
                );
                Some((name, (c.id?, running)))
            })
            .collect();

        let mut report = SuperviseReport::default();
        let mut apps = self.managed_apps();
        apps.sort();
        for app in apps {
            let lock = self.app_lock(&app);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            let Some(managed) = self.apps().get(&app).cloned() else {
                continue;
            };
            for (index, c) in managed.containers.iter().enumerate() {
                report.checked += 1;
                let now = Instant::now();
                let observed = seen.get(&c.name).cloned();
                if let Some((_, true)) = observed {
                    self.update_restart(&app, index, |s| s.restart_at = None, |_| ());
                    continue;
                }
                let policy = &self.inner.cfg.backoff;
                let due = self.update_restart(
                    &app,
                    index,
                    |s| {
                        s.on_exit(policy, now);
                    },
                    |s| s.due(now),
                );
                let crashes = self.update_restart(&app, index, |_| (), |s| s.consecutive_crashes);
                if crashes >= self.inner.cfg.give_up_after_crashes {
                    // Crash-looping: the protocol gives the instance up (and removes it);
                    // said once per crash, restarts stop here.
                    let reported = self.update_restart(&app, index, |_| (), |s| s.gave_up);
                    if !reported {
                        self.update_restart(&app, index, |s| s.gave_up = true, |_| ());
                        tracing::warn!(
                            app,
                            component = c.component,
                            crashes,
                            "crash loop; giving the instance up"
                        );
                        self.emit(RuntimeEvent::CrashLoop {
                            app: app.clone(),
                            component: c.component.clone(),
                            crashes,
                        });
                    }
                    report.waiting.push((app.clone(), c.component.clone()));
                    continue;
                }
                if !due {
                    report.waiting.push((app.clone(), c.component.clone()));
                    continue;
                }
                let restarts =
                    self.update_restart(&app, index, |s| s.on_restart(now), |s| s.restarts);
                self.inner.counters.restarted();
                // After a host reboot the fixed-size volumes' loop devices are gone: attach
                // them again before the engine mounts them.
                if let Err(e) = self.ensure_volumes(&docker, &managed.plan).await {
                    self.inner.counters.error(e.kind());
                    tracing::warn!(app, component = c.component, error = %e, "restart failed");
                    self.emit(RuntimeEvent::RestartFailed {
                        app: app.clone(),
                        component: c.component.clone(),
                        kind: e.kind(),
                        message: e.to_string(),
                    });
                    continue;
                }
                let result = match observed {
                    Some((id, false)) => docker
                        .start_container(&id, None::<StartContainerOptions>)
                        .await
                        .map(|()| id)
                        .map_err(|e| {
                            self.inner
                                .engine
                                .classify(e, Op::Start { container: &c.name })
                        }),
                    // Gone (removed behind our back): recreate it from the plan.
                    _ => match managed
                        .plan
                        .components
                        .iter()
                        .position(|p| p.name == c.component)
                    {
                        Some(i) => self.recreate(&docker, &managed.plan, i, &c.name).await,
                        None => continue,
                    },
                };
                match result {
                    Ok(id) => {
                        if let Some(a) = self.apps().get_mut(&app) {
                            if let Some(m) = a.containers.get_mut(index) {
                                m.id = id;
                            }
                        }
                        tracing::warn!(
                            app,
                            component = c.component,
                            restarts,
                            "container restarted"
                        );
                        report.restarted.push((app.clone(), c.component.clone()));
                        self.emit(RuntimeEvent::ContainerRestarted {
                            app: app.clone(),
                            component: c.component.clone(),
                            restarts,
                        });
                    }
                    Err(e) => {
                        self.inner.counters.error(e.kind());
                        tracing::warn!(app, component = c.component, error = %e, "restart failed");
                        self.emit(RuntimeEvent::RestartFailed {
                            app: app.clone(),
                            component: c.component.clone(),
                            kind: e.kind(),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(report)
    }

    async fn recreate(
        &self,
        docker: &bollard::Docker,
        plan: &super::AppPlan,
        index: usize,
        name: &str,
    ) -> Result<String, RuntimeError> {
        let id = self.create(docker, plan, index).await?;
        docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
            .map_err(|e| self.inner.engine.classify(e, Op::Start { container: name }))?;
        Ok(id)
    }

    /// Applies `update` to the restart state of container `index` of `app`, then reads it.
    fn update_restart<T: Default>(
        &self,
        app: &str,
        index: usize,
        update: impl FnOnce(&mut super::RestartState),
        read: impl FnOnce(&super::RestartState) -> T,
    ) -> T {
        let mut apps = self.apps();
        match apps.get_mut(app).and_then(|a| a.containers.get_mut(index)) {
            Some(m) => {
                update(&mut m.restart);
                read(&m.restart)
            }
            None => T::default(),
        }
    }

    /// Runs [`Runtime::supervise_once`] every `every` until the returned task is aborted.
    /// Errors (engine down) are logged and counted; the next pass retries.
    pub fn spawn_supervisor(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let rt = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = rt.supervise_once().await {
                    tracing::warn!(error = %e, "supervision pass failed");
                }
            }
        })
    }
}
