//! Taking over, after a daemon restart, the containers this node created before.

use std::collections::BTreeMap;
use std::time::Instant;

use bollard::query_parameters::{ListNetworksOptions, ListVolumesOptions};

use super::container::labels;
use super::error::{Op, RuntimeError};
use super::lifecycle::ContainerRef;
use super::plan::{AppPlan, container_name};
use super::{Managed, ManagedApp, RestartState, Runtime};
use crate::store::Tree;

/// An app found on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedApp {
    pub app: String,
    /// Spec hash on the containers' labels (the first one found, in component order).
    pub spec_hash: String,
    /// In component order.
    pub containers: Vec<ContainerRef>,
    /// How many of them are running right now.
    pub running: usize,
    /// The stored plan has another spec hash than the containers (a crash mid-update):
    /// calling `start_app` with the plan replaces them.
    pub stale: bool,
}

/// What `adopt` found. It never creates, starts, stops or removes anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdoptionReport {
    /// Apps with a stored plan and containers: now managed (supervised) by this runtime.
    pub adopted: Vec<AdoptedApp>,
    /// Containers labelled for this node but with no stored plan: left alone; the
    /// protocol decides (usually `remove_app`).
    pub unknown: Vec<AdoptedApp>,
    /// Stored plans with no container at all: the protocol decides (start again or drop).
    pub missing: Vec<AppPlan>,
    /// Apps with a network, volumes or never-started containers of this node, but no
    /// stored plan, no container that ever ran and no preparation in this process:
    /// prepared for a bid before a restart (or left by a crash mid-removal). Left alone;
    /// `unprepare` removes them unless the bid is still open, in which case `prepare`
    /// takes them over again.
    pub prepared_only: Vec<String>,
}

impl Runtime {
    /// Lists this node's containers by label and takes over those with a stored plan.
    pub async fn adopt(&self) -> Result<AdoptionReport, RuntimeError> {
        let r = self.adopt_inner().await;
        self.count(r)
    }

    async fn adopt_inner(&self) -> Result<AdoptionReport, RuntimeError> {
        let docker = self.inner.engine.client().await?;
        let list = self
            .list_containers(&docker, Some(self.node_filter(None)))
            .await?;
        let plans: BTreeMap<String, AppPlan> = self
            .inner
            .store
            .list(Tree::Instances)?
            .into_iter()
            .collect();

        // app -> [(component index, ref, spec hash, running, never started)]
        type Found = (usize, ContainerRef, String, bool, bool);
        let mut found: BTreeMap<String, Vec<Found>> = BTreeMap::new();
        for c in list {
            let (Some(id), Some(l)) = (c.id, c.labels) else {
                continue;
            };
            let (Some(app), Some(component)) = (l.get(labels::APP), l.get(labels::COMPONENT))
            else {
                continue;
            };
            let index = l
                .get(labels::COMPONENT_INDEX)
                .and_then(|i| i.parse().ok())
                .unwrap_or(usize::MAX);
            use bollard::models::ContainerSummaryStateEnum as State;
            let running = c.state == Some(State::RUNNING);
            let never_started = c.state == Some(State::CREATED);
            found.entry(app.clone()).or_default().push((
                index,
                ContainerRef {
                    component: component.clone(),
                    name: container_name(component, app),
                    id,
                },
                l.get(labels::SPEC_HASH).cloned().unwrap_or_default(),
                running,
                never_started,
            ));
        }

        let now = Instant::now();
        let mut report = AdoptionReport::default();
        let mut owners = self.labelled_network_and_volume_apps(&docker).await?;
        for (app, mut cs) in found {
            cs.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
            let spec_hash = cs.first().map(|c| c.2.clone()).unwrap_or_default();
            let entry = AdoptedApp {
                app: app.clone(),
                stale: plans.get(&app).is_some_and(|p| p.spec_hash != spec_hash),
                spec_hash,
                running: cs.iter().filter(|c| c.3).count(),
                containers: cs.iter().map(|c| c.1.clone()).collect(),
            };
            let Some(plan) = plans.get(&app) else {
                // Containers that never ran and no plan: a preparation, not an app.
                if cs.iter().all(|c| c.4) {
                    owners.push(app);
                } else {
                    report.unknown.push(entry);
                }
                continue;
            };
            let managed = cs
                .iter()
                .map(|(_, r, ..)| Managed {
                    component: r.component.clone(),
                    name: r.name.clone(),
                    id: r.id.clone(),
                    restart: RestartState::running_since(now),
                })
                .collect::<Vec<_>>();
            self.inner.counters.adopted(managed.len() as u64);
            // An app already managed here keeps its restart history.
            self.apps().entry(app.clone()).or_insert(ManagedApp {
                plan: plan.clone(),
                containers: managed,
            });
            report.adopted.push(entry);
        }
        owners.sort();
        owners.dedup();
        owners.retain(|app| {
            !plans.contains_key(app)
                && !report.unknown.iter().any(|u| u.app == *app)
                && !self.prepared_map().contains_key(app)
        });
        report.prepared_only = owners;
        report.missing = plans
            .into_iter()
            .filter(|(app, _)| !report.adopted.iter().any(|a| a.app == *app))
            .map(|(_, p)| p)
            .collect();
        Ok(report)
    }

    /// Apps named by the app label of this node's networks and volumes, sorted, distinct.
    async fn labelled_network_and_volume_apps(
        &self,
        docker: &bollard::Docker,
    ) -> Result<Vec<String>, RuntimeError> {
        let filters = Some(self.node_filter(None));
        let (networks, volumes) = tokio::join!(
            docker.list_networks(Some(ListNetworksOptions {
                filters: filters.clone()
            })),
            docker.list_volumes(Some(ListVolumesOptions { filters }))
        );
        let classify = |what| move |e| self.inner.engine.classify(e, Op::Other(what));
        let networks = networks.map_err(classify("listing networks"))?;
        let volumes = volumes.map_err(classify("listing volumes"))?;
        let mut apps: Vec<String> = networks
            .into_iter()
            .filter_map(|n| n.labels?.get(labels::APP).cloned())
            .chain(
                volumes
                    .volumes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|v| v.labels.get(labels::APP).cloned()),
            )
            .collect();
        apps.sort();
        apps.dedup();
        Ok(apps)
    }
}
