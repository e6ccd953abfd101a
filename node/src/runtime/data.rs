//! The app's data volumes on the engine: plain Docker volumes, or fixed-size ones backed by
//! a loop-attached ext4 image ([`super::volume`]), made, re-attached and removed.

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::models::VolumeCreateOptions;
use bollard::query_parameters::ListVolumesOptions;
use futures_util::future::join_all;

use super::Runtime;
use super::container;
use super::error::{Op, RuntimeError};
use super::plan::AppPlan;
use super::volume::{self, BYTES_PER_GB, DataVolumes};

/// Label on a fixed-size volume: the image file behind it.
pub const IMAGE_LABEL: &str = "io.fluxnode.volume-image";

impl Runtime {
    /// Creates the app's data volumes unless they exist; returns how many. Fixed-size
    /// volumes are also (re)attached to their loop devices, so this is what runs before
    /// any container of the app is (re)started.
    pub(crate) async fn ensure_volumes(
        &self,
        docker: &Docker,
        plan: &AppPlan,
    ) -> Result<usize, RuntimeError> {
        let requests = container::volume_requests(plan, &self.ctx());
        let n = requests.len();
        match &self.inner.cfg.volumes {
            DataVolumes::Unbounded => {
                join_all(requests.into_iter().map(|v| async move {
                    docker.create_volume(v).await.map_err(|e| {
                        self.inner
                            .engine
                            .classify(e, Op::Other("creating a volume"))
                    })
                }))
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            }
            DataVolumes::Loop { dir } => {
                let sizes = container::volume_components(plan).into_iter().map(|i| {
                    plan.components[i]
                        .hdd_gb
                        .max(1)
                        .saturating_mul(BYTES_PER_GB)
                });
                // One at a time: each picks a free device number, the next must see it.
                for (req, size) in requests.into_iter().zip(sizes) {
                    self.ensure_fixed_volume(docker, dir, plan, req, size)
                        .await?;
                }
            }
        }
        Ok(n)
    }

    /// Whether this runtime's volumes are fixed-size; the reason when they cannot be
    /// (no loop support on this host). `Ok(false)`: unbounded by configuration.
    pub fn fixed_volumes(&self) -> Result<bool, String> {
        match self.inner.cfg.volumes {
            DataVolumes::Unbounded => Ok(false),
            DataVolumes::Loop { .. } => volume::loop_support().map(|()| true),
        }
    }

    async fn ensure_fixed_volume(
        &self,
        docker: &Docker,
        dir: &Path,
        plan: &AppPlan,
        mut req: VolumeCreateOptions,
        size: u64,
    ) -> Result<(), RuntimeError> {
        let name = req.name.clone().unwrap_or_default();
        let path = volume::image_path(dir, &plan.app, &name);
        volume::ensure_image(&name, &path, size).await?;
        let existing = match docker.inspect_volume(&name).await {
            Ok(v) => Some(v.options),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => None,
            Err(e) => {
                return Err(self
                    .inner
                    .engine
                    .classify(e, Op::Other("inspecting a volume")));
            }
        };
        match existing {
            Some(options) => {
                let Some(recorded) = options.get("device") else {
                    // Made before fixed-size volumes (or by hand): the data is in it, so it
                    // is kept, and said.
                    tracing::warn!(
                        volume = name,
                        "volume is a plain Docker volume: hdd is not enforced for it until the \
                         app is removed and placed again"
                    );
                    return Ok(());
                };
                let dev = volume::attach(&name, &path, Some(recorded), &[]).await?;
                if dev != *recorded {
                    return Err(RuntimeError::Volume {
                        volume: name,
                        message: format!(
                            "its image is attached to {dev} but the Docker volume mounts \
                             {recorded}; detach {dev} (`losetup -d {dev}`) to let the node \
                             attach it again"
                        ),
                    });
                }
                Ok(())
            }
            None => {
                let reserved = self.recorded_devices(docker).await?;
                let dev = volume::attach(&name, &path, None, &reserved).await?;
                req.driver_opts = Some(HashMap::from([
                    ("type".to_owned(), "ext4".to_owned()),
                    ("device".to_owned(), dev),
                ]));
                if let Some(l) = req.labels.as_mut() {
                    l.insert(IMAGE_LABEL.into(), path.display().to_string());
                }
                docker.create_volume(req).await.map_err(|e| {
                    self.inner
                        .engine
                        .classify(e, Op::Other("creating a volume"))
                })?;
                Ok(())
            }
        }
    }

    /// Loop devices the volumes of this node record (attached or not).
    async fn recorded_devices(&self, docker: &Docker) -> Result<Vec<String>, RuntimeError> {
        let vols = docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(self.node_filter(None)),
            }))
            .await
            .map_err(|e| self.inner.engine.classify(e, Op::Other("listing volumes")))?;
        Ok(vols
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.options.get("device").cloned())
            .collect())
    }

    /// Removes this node's Docker volumes of `app`, then (fixed-size volumes) detaches
    /// their loop devices and deletes their images. Returns how many Docker volumes went.
    pub(crate) async fn remove_volumes(
        &self,
        docker: &Docker,
        app: &str,
    ) -> Result<usize, RuntimeError> {
        let vols = docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(self.node_filter(Some(app))),
            }))
            .await
            .map_err(|e| self.inner.engine.classify(e, Op::Other("listing volumes")))?;
        let mut volumes = 0;
        for v in vols.volumes.unwrap_or_default() {
            match docker
                .remove_volume(
                    &v.name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                Ok(()) => volumes += 1,
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => {
                    return Err(self
                        .inner
                        .engine
                        .classify(e, Op::Other("removing a volume")));
                }
            }
        }
        if let DataVolumes::Loop { dir } = &self.inner.cfg.volumes {
            // By directory, not by Docker volume: an image whose volume was never created
            // (a preparation that failed in between) goes too.
            let images = volume::destroy_app(dir, app).await?;
            tracing::debug!(app, images, "fixed-size volume images removed");
        }
        Ok(volumes)
    }
}
