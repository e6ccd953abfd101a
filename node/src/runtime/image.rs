//! Image pulls (with optional registry credentials, timed) and garbage collection of the
//! images removed apps leave behind.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptions, RemoveImageOptions};
use futures_util::StreamExt;

use super::container::labels;
use super::error::{Op, RuntimeError};
use super::plan::{RegistryAuth, normalize_image, registry_of};
use super::{AppPlan, PullPolicy, Runtime};

/// Outcome of making one image available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullReport {
    /// Normalised reference (`…:latest` added when no tag was given).
    pub image: String,
    /// Whether the registry was contacted (false: present locally under `IfNotPresent`,
    /// or pulled by a `prepare` within `RuntimeConfig::prepared_image_max_age`).
    pub pulled: bool,
    pub duration: Duration,
}

impl Runtime {
    /// Makes `repotag` available locally according to the pull policy.
    pub(crate) async fn ensure_image(
        &self,
        docker: &Docker,
        repotag: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<PullReport, RuntimeError> {
        let image = normalize_image(repotag);
        let started = Instant::now();
        if self.inner.cfg.pull_policy == PullPolicy::IfNotPresent
            && docker.inspect_image(&image).await.is_ok()
        {
            return Ok(PullReport {
                image,
                pulled: false,
                duration: started.elapsed(),
            });
        }
        self.pull_image(docker, repotag, auth).await
    }

    /// Present locally (an inspect, no registry contact): the report of a skipped pull.
    pub(crate) async fn present_image(&self, docker: &Docker, image: &str) -> Option<PullReport> {
        let started = Instant::now();
        docker.inspect_image(image).await.ok()?;
        Some(PullReport {
            image: image.to_owned(),
            pulled: false,
            duration: started.elapsed(),
        })
    }

    /// Pulls `repotag` from its registry, whatever the policy.
    pub(crate) async fn pull_image(
        &self,
        docker: &Docker,
        repotag: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<PullReport, RuntimeError> {
        let image = normalize_image(repotag);
        let started = Instant::now();
        let credentials =
            auth.and_then(RegistryAuth::user_password)
                .map(|(u, p)| DockerCredentials {
                    username: Some(u.to_owned()),
                    password: Some(p.to_owned()),
                    serveraddress: Some(registry_of(&image).to_owned()),
                    ..Default::default()
                });
        let options = CreateImageOptions {
            from_image: Some(image.clone()),
            ..Default::default()
        };
        let pull = async {
            let mut stream = docker.create_image(Some(options), None, credentials);
            while let Some(item) = stream.next().await {
                item?;
            }
            Ok::<(), bollard::errors::Error>(())
        };
        let timeout = self.inner.cfg.pull_timeout;
        match tokio::time::timeout(timeout, pull).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.inner.engine.classify(e, Op::Pull { image: &image })),
            Err(_) => {
                return Err(RuntimeError::Timeout {
                    op: format!("pull of {image}"),
                    seconds: timeout.as_secs(),
                });
            }
        }
        let duration = started.elapsed();
        self.inner
            .counters
            .pulled(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        Ok(PullReport {
            image,
            pulled: true,
            duration,
        })
    }

    /// Removes each image in `images` that no container on the engine references and no
    /// app managed or prepared here plans to use. Returns the images removed.
    ///
    /// A reference counts as used if a container was created from that exact reference or
    /// carries it in its `io.fluxnode.image` label; removal is never forced, so Docker
    /// itself refuses to drop an image a container still needs.
    pub(crate) async fn collect_images(
        &self,
        docker: &Docker,
        mut images: Vec<String>,
    ) -> Result<Vec<String>, RuntimeError> {
        images.sort();
        images.dedup();
        // Apps prepared for a bid or starting count as users too: their start must find
        // the image.
        let starting: Vec<AppPlan> = self.starting_map().values().cloned().collect();
        let planned: Vec<String> = self
            .plans()
            .iter()
            .chain(self.prepared_map().values().map(|p| &p.plan))
            .chain(starting.iter())
            .flat_map(|p| p.components.iter().map(|c| normalize_image(&c.repotag)))
            .collect();
        let containers = self.list_containers(docker, None).await?;
        let mut removed = Vec::new();
        for image in images {
            let in_use = planned.contains(&image)
                || containers.iter().any(|c| {
                    c.image.as_deref().map(normalize_image).as_deref() == Some(image.as_str())
                        || c.labels
                            .as_ref()
                            .and_then(|l| l.get(labels::IMAGE))
                            .is_some_and(|r| *r == image)
                });
            if in_use {
                continue;
            }
            match docker
                .remove_image(&image, None::<RemoveImageOptions>, None)
                .await
            {
                Ok(_) => {
                    self.inner.counters.image_removed();
                    removed.push(image);
                }
                // Gone already, or still needed by something outside fluxnode: keep quiet.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => {}
                Err(e) => {
                    return Err(self
                        .inner
                        .engine
                        .classify(e, Op::Other("removing an image")));
                }
            }
        }
        Ok(removed)
    }
}
