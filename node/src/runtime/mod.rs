//! Runs app instances on the local Docker engine.
//!
//! [`Runtime`] turns an [`AppPlan`] into Docker objects — one bridge network
//! `fluxDockerNetwork_{app}`, one container `flux{component}_{app}` per component (also its
//! alias on that network), named data volumes — and keeps them alive:
//!
//! - [`Runtime::prepare`] does the slow part ahead of an assignment (pulls, network,
//!   volumes, containers created but not started) when the node bids;
//!   [`Runtime::unprepare`] undoes it when the bid is lost.
//! - [`Runtime::start_app`] pulls, creates and starts in component order; on failure of a
//!   new app nothing is left behind. After `prepare` it only starts.
//! - [`Runtime::remove_app`] removes containers, network and volumes, then the images no
//!   app uses any more.
//! - [`Runtime::adopt`] finds, after a daemon restart, the containers this node created (by
//!   label) and takes them over without touching them.
//! - [`Runtime::supervise_once`] (or the task from [`Runtime::spawn_supervisor`]) restarts
//!   crashed containers with [`BackoffPolicy`].
//!
//! The plan of every app the node runs is kept in the store's `instances` tree, written
//! before any container is created: after a crash, a container without a plan or a plan
//! without containers is reported by `adopt`, never silently lost.

mod adopt;
pub mod backoff;
mod connection;
pub mod container;
mod counters;
mod data;
pub mod error;
mod from_spec;
mod image;
mod lifecycle;
pub mod plan;
mod prepare;
pub mod probe;
pub mod registries;
mod removal;
pub mod subnet;
mod supervisor;
pub mod volume;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;

pub use adopt::{AdoptedApp, AdoptionReport};
pub use backoff::{BackoffPolicy, RestartState};
pub use connection::API_VERSION;
use connection::Engine;
pub use container::labels;
pub use counters::CountersSnapshot;
pub use error::{ErrorKind, RuntimeError};
pub use image::PullReport;
pub use lifecycle::{ContainerRef, StartReport};
pub use plan::{AppPlan, ComponentPlan, DataMounts, RegistryAuth};
pub use prepare::{PrepareReport, UnprepareReport};
pub use removal::RemovalReport;
pub use supervisor::SuperviseReport;
pub use volume::DataVolumes;

use crate::store::Store;

/// When to contact the registry before creating a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always pull: a redeploy picks up what the tag points to now (FluxOS behaviour).
    Always,
    /// Pull only when the reference is not present locally.
    IfNotPresent,
}

/// Settings of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Docker engine socket, e.g. `/var/run/docker.sock`.
    pub docker_socket: String,
    /// Bound on each Docker request until its answer starts, seconds.
    pub request_timeout_s: u64,
    /// Bound on a whole image pull.
    pub pull_timeout: Duration,
    pub pull_policy: PullPolicy,
    /// Identity written into the `io.fluxnode.node` label; adoption only takes containers
    /// carrying this node's id.
    pub node_id: String,
    /// Host address app ports are published on.
    pub advertise_ip: String,
    /// Labels added to every container, network and volume.
    pub extra_labels: Vec<(String, String)>,
    /// Grace between SIGTERM and SIGKILL when removing a container, seconds.
    pub stop_timeout_s: u32,
    pub backoff: BackoffPolicy,
    /// Consecutive crashes (each after a run shorter than the backoff's stable time) after
    /// which the supervisor stops restarting a component and reports a crash loop.
    pub give_up_after_crashes: u32,
    /// How long after `prepare` a `start_app` trusts the images it pulled (instead of
    /// pulling again under [`PullPolicy::Always`]) and the containers it created.
    pub prepared_image_max_age: Duration,
    /// Loopback registries (`host:port`) images may come from; every other loopback
    /// registry is refused (see [`registries`]).
    pub loopback_registries: Vec<String>,
    /// Where app network subnets come from (see [`subnet`]).
    pub subnet_pool: subnet::SubnetPool,
    /// Whether component volumes are fixed-size images (`hdd` enforced) or plain Docker
    /// volumes (see [`volume`]).
    pub volumes: DataVolumes,
}

impl RuntimeConfig {
    /// Defaults for a node: Docker's standard socket, 2 min requests (Docker's own client
    /// default), 15 min pulls (a multi-GB image on a slow link), Docker's 10 s stop grace.
    pub fn new(node_id: &str, advertise_ip: &str) -> RuntimeConfig {
        RuntimeConfig {
            docker_socket: "/var/run/docker.sock".into(),
            request_timeout_s: 120,
            pull_timeout: Duration::from_secs(15 * 60),
            pull_policy: PullPolicy::Always,
            node_id: node_id.into(),
            advertise_ip: advertise_ip.into(),
            extra_labels: Vec::new(),
            stop_timeout_s: 10,
            backoff: BackoffPolicy::default(),
            // A bid is decided within seconds to a minute; 10 min keeps a won app on the
            // tag it was prepared with only while that tag is unlikely to have moved, and
            // past it the start pulls as it would without preparation.
            prepared_image_max_age: Duration::from_secs(10 * 60),
            loopback_registries: Vec::new(),
            subnet_pool: subnet::SubnetPool::default(),
            volumes: DataVolumes::Unbounded,
            give_up_after_crashes: DEFAULT_GIVE_UP_AFTER_CRASHES,
        }
    }
}

/// Something the protocol should learn about, sent to every [`Runtime::subscribe`]r.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    AppStarted {
        app: String,
        spec_hash: String,
    },
    /// Starting failed; `placement_failure` means another node should take the instance.
    AppFailed {
        app: String,
        kind: ErrorKind,
        placement_failure: bool,
        message: String,
    },
    AppRemoved {
        app: String,
    },
    ContainerRestarted {
        app: String,
        component: String,
        restarts: u64,
    },
    RestartFailed {
        app: String,
        component: String,
        kind: ErrorKind,
        message: String,
    },
    /// A component crashed again and again (more than the configured give-up count in a
    /// row, each after a short run): the supervisor stopped restarting it.
    CrashLoop {
        app: String,
        component: String,
        crashes: u32,
    },
}

/// Crash-loop give-up: the 4th crash in a row without a stable run. With the default
/// delays (0 s, 30 s, 5 min) the instance has had about 6 minutes to come up; a node that
/// keeps restarting it past that only burns the app's uptime, while another host (a
/// different disk, image cache, kernel) often runs it at once.
pub const DEFAULT_GIVE_UP_AFTER_CRASHES: u32 = 4;

/// Events buffered per subscriber; a slower subscriber misses the oldest and is told so
/// by `broadcast::error::RecvError::Lagged` (it should then re-read the app states).
const EVENT_BUFFER: usize = 256;

/// A container the runtime manages.
#[derive(Debug, Clone)]
pub(crate) struct Managed {
    pub component: String,
    pub name: String,
    pub id: String,
    pub restart: RestartState,
}

#[derive(Debug, Clone)]
pub(crate) struct ManagedApp {
    pub plan: AppPlan,
    pub containers: Vec<Managed>,
}

#[derive(Debug)]
struct Inner {
    cfg: RuntimeConfig,
    engine: Engine,
    store: Store,
    counters: counters::Counters,
    apps: Mutex<HashMap<String, ManagedApp>>,
    /// Apps prepared for a bid and not started since.
    prepared: Mutex<HashMap<String, prepare::Prepared>>,
    /// Plans of the starts in progress: their images are in use before the app is managed.
    starting: Mutex<HashMap<String, AppPlan>>,
    app_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    events: broadcast::Sender<RuntimeEvent>,
}

/// The node's container runtime. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// Builds a runtime; no I/O happens until the first call (so a daemon starts even while
    /// dockerd is down).
    pub fn new(cfg: RuntimeConfig, store: Store) -> Runtime {
        let engine = Engine::new(&cfg.docker_socket, cfg.request_timeout_s);
        Runtime {
            inner: Arc::new(Inner {
                cfg,
                engine,
                store,
                counters: counters::Counters::default(),
                apps: Mutex::new(HashMap::new()),
                prepared: Mutex::new(HashMap::new()),
                starting: Mutex::new(HashMap::new()),
                app_locks: Mutex::new(HashMap::new()),
                events: broadcast::channel(EVENT_BUFFER).0,
            }),
        }
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.cfg
    }

    /// Checks the engine answers; reconnects if it went away.
    pub async fn ping(&self) -> Result<(), RuntimeError> {
        let r = async {
            let docker = self.inner.engine.client().await?;
            docker
                .ping()
                .await
                .map_err(|e| self.inner.engine.classify(e, error::Op::Other("ping")))?;
            Ok(())
        }
        .await;
        self.count(r)
    }

    /// Receives runtime events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.inner.events.subscribe()
    }

    pub fn counters(&self) -> CountersSnapshot {
        self.inner.counters.snapshot()
    }

    /// Names of the apps this runtime manages, sorted.
    pub fn managed_apps(&self) -> Vec<String> {
        let mut v: Vec<String> = self.apps().keys().cloned().collect();
        v.sort();
        v
    }

    /// Restarts performed per container of `app`, in component order.
    pub fn restart_counts(&self, app: &str) -> Vec<(String, u64)> {
        self.apps().get(app).map_or_else(Vec::new, |a| {
            a.containers
                .iter()
                .map(|c| (c.component.clone(), c.restart.restarts))
                .collect()
        })
    }

    fn apps(&self) -> MutexGuard<'_, HashMap<String, ManagedApp>> {
        // Poisoning only means a panic elsewhere mid-update of plain data; keep going.
        self.inner.apps.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn prepared_map(&self) -> MutexGuard<'_, HashMap<String, prepare::Prepared>> {
        self.inner
            .prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn plans(&self) -> Vec<AppPlan> {
        self.apps().values().map(|a| a.plan.clone()).collect()
    }

    fn starting_map(&self) -> MutexGuard<'_, HashMap<String, AppPlan>> {
        self.inner
            .starting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn app_lock(&self, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .app_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        locks.entry(app.to_owned()).or_default().clone()
    }

    fn emit(&self, event: RuntimeEvent) {
        // No subscriber is fine: events are advisory, state is queryable.
        let _ = self.inner.events.send(event);
    }

    /// Counts an error result by kind and passes it through.
    fn count<T>(&self, r: Result<T, RuntimeError>) -> Result<T, RuntimeError> {
        if let Err(e) = &r {
            self.inner.counters.error(e.kind());
        }
        r
    }

    /// Every container (running or not) matching `filters`; `None` lists all of them.
    async fn list_containers(
        &self,
        docker: &bollard::Docker,
        filters: Option<HashMap<String, Vec<String>>>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, RuntimeError> {
        docker
            .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .map_err(|e| {
                self.inner
                    .engine
                    .classify(e, error::Op::Other("listing containers"))
            })
    }

    fn node_filter(&self, app: Option<&str>) -> HashMap<String, Vec<String>> {
        let mut labels = vec![format!("{}={}", labels::NODE, self.inner.cfg.node_id)];
        if let Some(app) = app {
            labels.push(format!("{}={app}", labels::APP));
        }
        HashMap::from([("label".to_owned(), labels)])
    }
}
