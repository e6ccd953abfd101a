//! Getting ready for an app before it is assigned, and undoing that when it is not.
//!
//! A node bids on an app long before it may win it. [`Runtime::prepare`] does the slow,
//! idempotent work at bid time — pulling the images (per pull policy), creating the app's
//! bridge network (the slowest Docker call of a start: bridge, iptables chains, 100–180 ms
//! on the test machine), its data volumes, and its containers, created but not started
//! (40–80 ms each there; a created container holds no port and runs nothing) — so that
//! winning costs only starting the containers. [`Runtime::unprepare`] removes what an app
//! that was never started left: its never-started containers, network, volumes, and the
//! images the preparation itself fetched that nothing else uses.
//!
//! Prepared state is kept in memory only. After a daemon restart, [`Runtime::adopt`]
//! reports the apps that have objects here but no stored plan and no container that ever
//! ran (`AdoptionReport::prepared_only`), so the protocol can unprepare them.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::InspectNetworkOptions;
use futures_util::future::join_all;

use super::error::{Op, RuntimeError};
use super::image::PullReport;
use super::lifecycle::Existing;
use super::plan::{AppPlan, container_name, normalize_image};
use super::{PullPolicy, Runtime};
use crate::store::Tree;

/// What `prepare` did.
#[derive(Debug, Clone)]
pub struct PrepareReport {
    pub app: String,
    /// One entry per distinct image.
    pub pulls: Vec<PullReport>,
    /// Whether this call created the app network (false: it existed already).
    pub network_created: bool,
    /// Data volumes ensured (Docker's volume create is idempotent, so existing ones count).
    pub volumes: usize,
    /// Containers created and left unstarted, ready for `start_app` (existing ones of this
    /// spec hash and image count). 0 when the app already runs here.
    pub containers: usize,
    pub elapsed: Duration,
}

/// What `unprepare` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnprepareReport {
    /// The app has containers, a stored plan or is managed here: nothing was removed.
    pub in_use: bool,
    /// Never-started containers removed.
    pub containers: usize,
    pub network: bool,
    pub volumes: usize,
    /// Images the preparation fetched that no container or other app needs.
    pub images: Vec<String>,
}

/// The record of a successful `prepare`.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub plan: AppPlan,
    /// When the images were last made available.
    pub at: Instant,
    /// Images that were not on the engine before some `prepare` of this app fetched them:
    /// the only ones `unprepare` may remove.
    pub fetched: Vec<String>,
}

impl Runtime {
    /// Pulls the plan's images (per pull policy), creates the app network and data volumes
    /// if missing, labelled as `start_app` labels them, then creates (never starts) the
    /// containers, unless the app already runs or is recorded here.
    ///
    /// Idempotent; call it again with a newer plan to refresh (containers of another spec
    /// hash or of an image the tag no longer points to are recreated). A `start_app` of
    /// the app within `RuntimeConfig::prepared_image_max_age` trusts these pulls and
    /// containers; after that it pulls and recreates as without preparation. If nothing of
    /// the app existed before and preparing fails, what this call created is removed.
    pub async fn prepare(&self, plan: &AppPlan) -> Result<PrepareReport, RuntimeError> {
        let r = self.prepare_inner(plan).await;
        self.count(r)
    }

    async fn prepare_inner(&self, plan: &AppPlan) -> Result<PrepareReport, RuntimeError> {
        let started = Instant::now();
        plan.validate()?;
        super::registries::check_registries(plan, &self.inner.cfg.loopback_registries)?;
        let lock = self.app_lock(&plan.app);
        let _guard = lock.lock().await;
        let docker = &self.inner.engine.client().await?;
        let images = distinct_images(plan);
        let before = self.prepared_entry(&plan.app);

        // Which images are here already: `unprepare` removes only what preparing fetched.
        let present = join_all(
            images
                .iter()
                .map(|(img, _)| async { docker.inspect_image(img).await.is_ok() }),
        )
        .await;
        let pulls = join_all(images.iter().zip(&present).map(|((img, i), here)| {
            let c = &plan.components[*i];
            async move {
                if *here && self.inner.cfg.pull_policy == PullPolicy::IfNotPresent {
                    return Ok(PullReport {
                        image: img.clone(),
                        pulled: false,
                        duration: Duration::ZERO,
                    });
                }
                self.pull_image(docker, &c.repotag, c.repoauth.as_ref())
                    .await
            }
        }));
        let result = async {
            let (pulls, network, volumes) = tokio::join!(
                pulls,
                self.ensure_network(docker, plan),
                self.ensure_volumes(docker, plan)
            );
            let pulls = pulls.into_iter().collect::<Result<Vec<_>, _>>()?;
            let (network, volumes) = (network?, volumes?);
            // Containers last: creating one needs its image and the network.
            let containers = if self.has_trace(docker, &plan.app).await? {
                0
            } else {
                self.precreate(docker, plan).await?
            };
            Ok::<_, RuntimeError>((pulls, network, volumes, containers))
        }
        .await;
        let (pulls, network_created, volumes, containers) = match result {
            Ok(r) => r,
            Err(e) => {
                // When in doubt (the check itself failed), keep: the objects may be in use.
                let traced = self.has_trace(docker, &plan.app).await.unwrap_or(true);
                if before.is_none() && !traced {
                    let fetched: Vec<String> = images
                        .iter()
                        .zip(&present)
                        .filter(|(_, here)| !**here)
                        .map(|((img, _), _)| img.clone())
                        .collect();
                    let cleanup = async {
                        self.tear_down(docker, &plan.app).await?;
                        self.collect_images(docker, fetched).await
                    };
                    if let Err(cleanup) = cleanup.await {
                        tracing::warn!(app = plan.app, error = %cleanup, "cleanup after failed prepare");
                    }
                }
                return Err(e);
            }
        };

        let mut fetched = before.map(|p| p.fetched).unwrap_or_default();
        for ((img, _), here) in images.iter().zip(&present) {
            if !here && !fetched.contains(img) {
                fetched.push(img.clone());
            }
        }
        self.prepared_map().insert(
            plan.app.clone(),
            Prepared {
                plan: plan.clone(),
                at: Instant::now(),
                fetched,
            },
        );
        Ok(PrepareReport {
            app: plan.app.clone(),
            pulls,
            network_created,
            volumes,
            containers,
            elapsed: started.elapsed(),
        })
    }

    /// Removes the never-started containers, network and volumes of `app` if no container
    /// of the app ever ran, it has no stored plan and is not managed here (a bid that was
    /// lost), and the images its preparation fetched that no container and no other
    /// managed or prepared app uses. An app in use is left untouched (`in_use`). Works
    /// after a restart too, for the apps `adopt` lists as `prepared_only` (images are then
    /// left: what was fetched is known only to the process that prepared).
    pub async fn unprepare(&self, app: &str) -> Result<UnprepareReport, RuntimeError> {
        let r = async {
            let lock = self.app_lock(app);
            let _guard = lock.lock().await;
            let docker = self.inner.engine.client().await?;
            if self.has_trace(&docker, app).await? {
                // Started (or recorded) since: from now on the app's plan and containers
                // protect its images, and `remove_app` is what removes them.
                self.prepared_map().remove(app);
                return Ok(UnprepareReport {
                    in_use: true,
                    ..Default::default()
                });
            }
            let removal = self.tear_down(&docker, app).await?;
            let fetched = self
                .prepared_map()
                .remove(app)
                .map(|p| p.fetched)
                .unwrap_or_default();
            let images = self.collect_images(&docker, fetched).await?;
            Ok(UnprepareReport {
                in_use: false,
                containers: removal.containers,
                network: removal.network,
                volumes: removal.volumes,
                images,
            })
        }
        .await;
        self.count(r)
    }

    /// Names of the apps prepared here and not started since, sorted.
    pub fn prepared_apps(&self) -> Vec<String> {
        let mut v: Vec<String> = self.prepared_map().keys().cloned().collect();
        v.sort();
        v
    }

    /// Whether the images of `app`'s last `prepare` may be trusted without a pull.
    pub(crate) fn prepared_fresh(&self, app: &str) -> Option<Vec<String>> {
        let p = self.prepared_entry(app)?;
        (p.at.elapsed() <= self.inner.cfg.prepared_image_max_age).then(|| {
            distinct_images(&p.plan)
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        })
    }

    pub(crate) fn prepared_entry(&self, app: &str) -> Option<Prepared> {
        self.prepared_map().get(app).cloned()
    }

    /// Whether `app` is managed, recorded, or has a container of this node that was
    /// started at some point (never-started ones are a preparation's).
    async fn has_trace(&self, docker: &Docker, app: &str) -> Result<bool, RuntimeError> {
        Ok(self.apps().contains_key(app)
            || self.inner.store.contains(Tree::Instances, app)?
            || self
                .existing_containers(docker, app)
                .await?
                .iter()
                .any(|e| !e.never_started()))
    }

    /// Creates every container of `plan` that does not exist yet, unstarted; removes
    /// never-started ones of another spec hash, another image or no planned component.
    /// Returns how many containers are ready.
    async fn precreate(&self, docker: &Docker, plan: &AppPlan) -> Result<usize, RuntimeError> {
        let existing = self.existing_containers(docker, &plan.app).await?;
        let image_ids: Vec<(String, String)> = join_all(distinct_images(plan).into_iter().map(
            |(img, _)| async move {
                let id = docker.inspect_image(&img).await.ok().and_then(|i| i.id);
                (img, id.unwrap_or_default())
            },
        ))
        .await;
        let current = |e: &Existing| {
            plan.components.iter().any(|c| {
                let image = normalize_image(&c.repotag);
                container_name(&c.name, &plan.app) == e.name
                    && image_ids
                        .iter()
                        .any(|(i, id)| *i == image && *id == e.image_id)
            }) && e.spec_hash == plan.spec_hash
        };
        join_all(
            existing
                .iter()
                .filter(|e| !current(e))
                .map(|e| self.remove_container(docker, &e.id, 0)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<()>, _>>()?;
        join_all(plan.components.iter().enumerate().filter_map(|(i, c)| {
            let name = container_name(&c.name, &plan.app);
            let ready = existing.iter().any(|e| e.name == name && current(e));
            (!ready).then(|| self.create(docker, plan, i))
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<String>, _>>()?;
        Ok(plan.components.len())
    }

    /// Creates the app network unless it exists; true when this call created it.
    pub(crate) async fn ensure_network(
        &self,
        docker: &Docker,
        plan: &AppPlan,
    ) -> Result<bool, RuntimeError> {
        let name = plan.network_name();
        // API 1.41 allows two networks of one name; check first so there is only ever one.
        match docker
            .inspect_network(&name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => return Ok(false),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => {
                return Err(self
                    .inner
                    .engine
                    .classify(e, Op::Other("inspecting the app network")));
            }
        }
        self.create_app_network(docker, plan).await.map(|_| true)
    }
}

/// Distinct normalised images of `plan`, each with the first component using it (whose
/// credentials pull it).
pub(crate) fn distinct_images(plan: &AppPlan) -> Vec<(String, usize)> {
    let mut images: Vec<(String, usize)> = Vec::new();
    for (i, c) in plan.components.iter().enumerate() {
        let img = normalize_image(&c.repotag);
        if !images.iter().any(|(i2, _)| *i2 == img) {
            images.push((img, i));
        }
    }
    images
}
