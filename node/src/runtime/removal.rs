//! Removing an app: its containers, network and volumes (with their images and loop
//! devices when fixed-size), then the images nobody uses.

use bollard::Docker;
use bollard::query_parameters::{RemoveContainerOptions, StopContainerOptions};
use futures_util::future::join_all;

use super::container::labels;
use super::error::{Op, RuntimeError};
use super::plan::normalize_image;
use super::{Runtime, RuntimeEvent};
use crate::store::Tree;

/// What `remove_app` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovalReport {
    pub containers: usize,
    pub network: bool,
    pub volumes: usize,
    pub images: Vec<String>,
}

impl Runtime {
    pub(crate) async fn remove_container(
        &self,
        docker: &Docker,
        id: &str,
        grace_s: u32,
    ) -> Result<(), RuntimeError> {
        let stop = StopContainerOptions {
            t: Some(i32::try_from(grace_s).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        // Stop first so the app gets SIGTERM and its grace period; "not running" is fine.
        match docker.stop_container(id, Some(stop)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => {}
            Err(e) => {
                return Err(self
                    .inner
                    .engine
                    .classify(e, Op::Other("stopping a container")));
            }
        }
        let rm = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match docker.remove_container(id, Some(rm)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self
                .inner
                .engine
                .classify(e, Op::Other("removing a container"))),
        }
    }

    /// Removes `app`: its containers, network and volumes, its record and any preparation,
    /// then the images no app uses any more. Works for apps this runtime does not manage too (e.g. an unknown
    /// app reported by `adopt`), as long as they carry this node's label.
    pub async fn remove_app(&self, app: &str) -> Result<RemovalReport, RuntimeError> {
        let r = async {
            let lock = self.app_lock(app);
            let _guard = lock.lock().await;
            let docker = self.inner.engine.client().await?;
            let mut images: Vec<String> = self
                .apps()
                .get(app)
                .map(|a| {
                    a.plan
                        .components
                        .iter()
                        .map(|c| normalize_image(&c.repotag))
                        .collect()
                })
                .unwrap_or_default();
            let containers = self
                .list_containers(&docker, Some(self.node_filter(Some(app))))
                .await?;
            images.extend(
                containers
                    .iter()
                    .filter_map(|c| c.labels.as_ref()?.get(labels::IMAGE).cloned()),
            );
            let mut report = self.tear_down(&docker, app).await?;
            self.inner.store.delete(Tree::Instances, app)?;
            self.apps().remove(app);
            // A prepared, never started app: the images its preparation fetched.
            if let Some(p) = self.prepared_map().remove(app) {
                images.extend(p.fetched);
            }
            report.images = self.collect_images(&docker, images).await?;
            Ok(report)
        }
        .await;
        if r.is_ok() {
            self.inner.counters.app_removed();
            self.emit(RuntimeEvent::AppRemoved {
                app: app.to_owned(),
            });
        }
        self.count(r)
    }

    /// Removes this node's containers, network and volumes of `app`.
    pub(crate) async fn tear_down(
        &self,
        docker: &Docker,
        app: &str,
    ) -> Result<RemovalReport, RuntimeError> {
        let existing = self.existing_containers(docker, app).await?;
        let grace = self.inner.cfg.stop_timeout_s;
        let removed = join_all(
            existing
                .iter()
                .map(|e| self.remove_container(docker, &e.id, grace)),
        )
        .await;
        removed.into_iter().collect::<Result<Vec<()>, _>>()?;

        let network = super::plan::network_name(app);
        let network_removed = match docker.remove_network(&network).await {
            Ok(()) => true,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => false,
            Err(e) => {
                return Err(self
                    .inner
                    .engine
                    .classify(e, Op::Other("removing the app network")));
            }
        };
        let volumes = self.remove_volumes(docker, app).await?;
        Ok(RemovalReport {
            containers: existing.len(),
            network: network_removed,
            volumes,
            images: Vec::new(),
        })
    }
}
