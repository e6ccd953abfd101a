//! Starting and removing an app.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::CreateContainerOptions;
use futures_util::future::join_all;

use super::container::{self, NodeContext, labels};
use super::error::{Op, RuntimeError};
use super::plan::{AppPlan, container_name};
use super::prepare::distinct_images;
use super::{Managed, ManagedApp, PullReport, RestartState, Runtime, RuntimeEvent};
use crate::store::Tree;

/// A container of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub component: String,
    /// `flux{component}_{app}`.
    pub name: String,
    pub id: String,
}

/// What `start_app` did.
#[derive(Debug, Clone)]
pub struct StartReport {
    pub app: String,
    /// In component order.
    pub containers: Vec<ContainerRef>,
    /// One entry per distinct image.
    pub pulls: Vec<PullReport>,
    /// Containers already running with this spec hash, left as they were.
    pub kept: usize,
    /// From the call to all components running.
    pub elapsed: Duration,
}

impl Runtime {
    pub(super) fn ctx(&self) -> NodeContext<'_> {
        let cfg = &self.inner.cfg;
        NodeContext {
            node_id: &cfg.node_id,
            advertise_ip: &cfg.advertise_ip,
            extra_labels: &cfg.extra_labels,
        }
    }

    /// Runs `plan`: pulls its images, creates network and volumes, then creates and starts
    /// each component in index order. Idempotent: containers already running with the same
    /// spec hash are kept; containers of another spec hash are replaced (data kept).
    ///
    /// After [`Runtime::prepare`] the network and volumes exist and the images are trusted
    /// for `prepared_image_max_age`, so this only inspects them, then creates and starts.
    ///
    /// If a new app fails to start, everything created for it is removed again and its
    /// record deleted, so another node can take the instance cleanly.
    pub async fn start_app(&self, plan: AppPlan) -> Result<StartReport, RuntimeError> {
        let app = plan.app.clone();
        // Its images are in use from now on: another app's removal collecting images
        // must not delete one between this start's pull check and its `docker create`
        // ("No such image" on three daemons at once when starts were no longer always
        // prepared at bid time, whose record protected them before).
        self.starting_map().insert(app.clone(), plan.clone());
        let r = self.start_app_inner(plan).await;
        self.starting_map().remove(&app);
        match &r {
            Ok(rep) => {
                self.inner.counters.app_started();
                tracing::info!(
                    app,
                    elapsed_ms = rep.elapsed.as_millis() as u64,
                    "app running"
                );
            }
            Err(e) => self.emit(RuntimeEvent::AppFailed {
                app,
                kind: e.kind(),
                placement_failure: e.is_placement_failure(),
                message: e.to_string(),
            }),
        }
        self.count(r)
    }

    async fn start_app_inner(&self, plan: AppPlan) -> Result<StartReport, RuntimeError> {
        let started = Instant::now();
        plan.validate()?;
        super::registries::check_registries(&plan, &self.inner.cfg.loopback_registries)?;
        let lock = self.app_lock(&plan.app);
        let _guard = lock.lock().await;
        let docker = self.inner.engine.client().await?;
        // Only an app this node has no trace of is rolled back on failure: anything else
        // (managed, or recorded before a restart) may hold data that must survive.
        let fresh = !self.apps().contains_key(&plan.app)
            && !self.inner.store.contains(Tree::Instances, &plan.app)?;
        // Intent first: a crash from here on leaves a record adoption can reconcile.
        self.inner.store.put(Tree::Instances, &plan.app, &plan)?;
        match self.bring_up(&docker, &plan, fresh, started).await {
            Ok((report, mut managed)) => {
                let mut apps = self.apps();
                // A container kept as it was keeps its restart history.
                if let Some(old) = apps.get(&plan.app) {
                    for m in &mut managed {
                        if let Some(o) = old.containers.iter().find(|o| o.id == m.id) {
                            m.restart = o.restart.clone();
                        }
                    }
                }
                apps.insert(
                    plan.app.clone(),
                    ManagedApp {
                        plan: plan.clone(),
                        containers: managed,
                    },
                );
                drop(apps);
                // Managed now: its plan protects its images from here on.
                self.prepared_map().remove(&plan.app);
                self.emit(RuntimeEvent::AppStarted {
                    app: plan.app.clone(),
                    spec_hash: plan.spec_hash.clone(),
                });
                Ok(report)
            }
            Err(e) => {
                if fresh {
                    if let Err(cleanup) = self.tear_down(&docker, &plan.app).await {
                        tracing::warn!(app = plan.app, error = %cleanup, "cleanup after failed start");
                    }
                    self.inner.store.delete(Tree::Instances, &plan.app)?;
                }
                Err(e)
            }
        }
    }

    async fn bring_up(
        &self,
        docker: &Docker,
        plan: &AppPlan,
        fresh: bool,
        started: Instant,
    ) -> Result<(StartReport, Vec<Managed>), RuntimeError> {
        // Images a recent `prepare` made available need no registry round trip, only a
        // check that they are still here; the containers it created are used as they are.
        let prepared = self.prepared_fresh(&plan.app);
        let prepared_is_fresh = prepared.is_some();
        let prepared = prepared.unwrap_or_default();
        // Pulls, the network, the volumes and the look-up of existing containers are
        // independent: do them concurrently. Network creation (bridge, iptables) is the
        // slow one, so it sets the pace of this phase; after `prepare` each of these is a
        // single inspect or list.
        let pulls = join_all(distinct_images(plan).into_iter().map(|(img, i)| {
            let c = &plan.components[i];
            let trusted = prepared.contains(&img);
            async move {
                if trusted {
                    if let Some(report) = self.present_image(docker, &img).await {
                        return Ok(report);
                    }
                }
                self.ensure_image(docker, &c.repotag, c.repoauth.as_ref())
                    .await
            }
        }));
        // Join (not try_join): every request must have finished before a failure is
        // returned, or the rollback could race a network creation still in flight.
        let (pulls, network, volumes, existing) = tokio::join!(
            pulls,
            self.ensure_network(docker, plan),
            self.ensure_volumes(docker, plan),
            self.existing_containers(docker, &plan.app)
        );
        let pulls = pulls.into_iter().collect::<Result<Vec<_>, _>>()?;
        network?;
        volumes?;
        let existing = existing?;

        // Containers of another spec hash, or of a component the plan no longer has, go
        // first (with their stop grace): they may hold the ports the new ones need.
        let planned: Vec<String> = plan
            .components
            .iter()
            .map(|c| container_name(&c.name, &plan.app))
            .collect();
        // A container created by a preparation that is no longer fresh may hold an image
        // the tag no longer points to: recreate it like any container of a new app.
        let keep = |e: &Existing| {
            planned.contains(&e.name)
                && e.spec_hash == plan.spec_hash
                && !(fresh && e.never_started() && !prepared_is_fresh)
        };
        let grace = self.inner.cfg.stop_timeout_s;
        join_all(
            existing
                .iter()
                .filter(|e| !keep(e))
                .map(|e| self.remove_container(docker, &e.id, grace)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;

        // Create all containers concurrently (the slow part of `docker create` is per
        // container), then start them strictly in component order.
        let creates = plan.components.iter().enumerate().map(|(i, c)| {
            let name = container_name(&c.name, &plan.app);
            let found = existing
                .iter()
                .find(|e| e.name == name && keep(e))
                .map(|e| e.id.clone());
            async move {
                match found {
                    Some(id) => Ok((id, true)),
                    None => self.create(docker, plan, i).await.map(|id| (id, false)),
                }
            }
        });
        let ids = join_all(creates)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut kept = 0;
        let mut refs = Vec::new();
        for (i, (id, reused)) in ids.iter().enumerate() {
            let c = &plan.components[i];
            let name = container_name(&c.name, &plan.app);
            let running = *reused && existing.iter().any(|e| e.name == name && e.running());
            if running {
                kept += 1;
            } else {
                docker
                    .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
                    .await
                    .map_err(|e| {
                        self.inner
                            .engine
                            .classify(e, Op::Start { container: &name })
                    })?;
            }
            refs.push(ContainerRef {
                component: c.name.clone(),
                name,
                id: id.clone(),
            });
        }
        let now = Instant::now();
        let managed = refs
            .iter()
            .map(|r| Managed {
                component: r.component.clone(),
                name: r.name.clone(),
                id: r.id.clone(),
                restart: RestartState::running_since(now),
            })
            .collect();
        let report = StartReport {
            app: plan.app.clone(),
            containers: refs,
            pulls,
            kept,
            elapsed: started.elapsed(),
        };
        Ok((report, managed))
    }

    /// Creates component `index`'s container; returns its id.
    pub(crate) async fn create(
        &self,
        docker: &Docker,
        plan: &AppPlan,
        index: usize,
    ) -> Result<String, RuntimeError> {
        let name = container_name(&plan.components[index].name, &plan.app);
        let body = container::container_body(plan, index, &self.ctx());
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        docker
            .create_container(Some(options), body)
            .await
            .map(|r| r.id)
            .map_err(|e| {
                self.inner
                    .engine
                    .classify(e, Op::Start { container: &name })
            })
    }

    /// This node's containers of `app`.
    pub(crate) async fn existing_containers(
        &self,
        docker: &Docker,
        app: &str,
    ) -> Result<Vec<Existing>, RuntimeError> {
        let list = self
            .list_containers(docker, Some(self.node_filter(Some(app))))
            .await?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let name = c
                    .names
                    .as_ref()?
                    .first()?
                    .trim_start_matches('/')
                    .to_owned();
                let spec_hash = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::SPEC_HASH))
                    .cloned()
                    .unwrap_or_default();
                Some(Existing {
                    name,
                    id: c.id?,
                    spec_hash,
                    state: c.state,
                    image_id: c.image_id.unwrap_or_default(),
                })
            })
            .collect())
    }
}

/// A container of an app found on the engine.
#[derive(Debug, Clone)]
pub(crate) struct Existing {
    pub name: String,
    pub id: String,
    pub spec_hash: String,
    pub state: Option<ContainerSummaryStateEnum>,
    /// `sha256:…` of the image it was created from.
    pub image_id: String,
}

impl Existing {
    pub fn running(&self) -> bool {
        self.state == Some(ContainerSummaryStateEnum::RUNNING)
    }

    /// Created and never started: what `prepare` leaves (or a start that failed).
    pub fn never_started(&self) -> bool {
        self.state == Some(ContainerSummaryStateEnum::CREATED)
    }
}
