//! Bringing a node up: key, store, benchmark, registry, network, runtime adoption, then
//! the service task; and the systemd notifications around it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry as MetricRegistry;
use proto::keys::NodeId;
use proto::tier::{Resources, Tier};
use scheduler::model::Params;
use scheduler::protocol::{Input, Node, NodeConfig, Strikes, View};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::effects::StandingRecord;
use super::{Clock, Daemon, DaemonHandle, members::Members, registry::Registry, wire::SelfFacts};
use crate::bench::{self, BenchOptions, BenchReport};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::network::{self, NetworkOptions};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{Store, Tree};

/// Why the daemon could not start; each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("node key {path}: {message}")]
    Key { path: String, message: String },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Registry(#[from] super::registry::RegistryError),
    #[error("{0}")]
    Network(#[from] crate::network::NetworkError),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("benchmark: {0}")]
    Bench(#[from] crate::bench::cache::BenchCacheError),
    #[error("data directory {path}: {source} (set node.data_dir to a writable directory)")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

/// The running daemon's parts a caller keeps: the handle for the API and the service
/// task's future.
#[derive(Debug)]
pub struct Started {
    pub handle: DaemonHandle,
    pub service: tokio::task::JoinHandle<()>,
}

/// Starts every subsystem and spawns the service task, which runs until `shutdown`.
pub async fn start(
    config: &Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Started, StartupError> {
    let dir = &config.node.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| StartupError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let key = load_or_create_key(&config.node.key_file)?;
    let id = key.public();
    tracing::info!(node = %id, "node identity");
    let store = Store::open(dir.join("db"))?;

    let mut metric_registry = MetricRegistry::default();
    let metrics = Metrics::register(&mut metric_registry);
    // Every store error, from any caller, in `fluxnode_errors_total{kind="store"}` (the
    // series exists from start-up, at 0, so an alert on its rate can fire).
    store.count_errors_in(
        metrics
            .errors
            .get_or_create(&crate::metrics::ErrorLabel { kind: "store" })
            .clone(),
    );

    let bench_options = bench_options(config);
    let bench = run_bench(config, &bench_options, &store).await;
    let facts = self_facts(config, bench.as_ref());
    if let Some(b) = &bench {
        super::rebench::set_gauges(&metrics, b);
    }
    // Re-run every bench.period; the service loop takes each new report.
    let (bench_tx, bench_reports) = tokio::sync::watch::channel(bench.clone());
    bench::cache::spawn_periodic(store.clone(), bench_options, config.bench.period, bench_tx);

    let clock = Clock::new(&config.chain);
    let registry = Registry::load(store.clone(), clock.chain, clock.height())?;
    let mut view = View::new(clock.chain, Params::default());
    let now = clock.now();
    for app in registry.ledger().apps() {
        let change = scheduler::ledger::Change {
            key: scheduler::ledger::name_key(app.name()),
            before: None,
            after: Some(app.clone()),
        };
        view.apply_ledger_change(&change, now);
    }

    let options = NetworkOptions::from_config(&config.network)?;
    let (network, events) = network::spawn(&key, options, &mut metric_registry, metrics.clone())?;

    let mut rt_cfg = RuntimeConfig::new(&id.node_id(), &config.node.advertise_addr.to_string());
    rt_cfg.docker_socket = config.docker.socket.display().to_string();
    rt_cfg.extra_labels = config
        .docker
        .labels
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    rt_cfg.loopback_registries = config.docker.loopback_registries.clone();
    rt_cfg.subnet_pool = config.docker.subnet_pool()?;
    rt_cfg.volumes = match config.docker.volumes {
        crate::config::VolumeMode::Loop => crate::runtime::DataVolumes::Loop {
            dir: config.node.data_dir.join("volumes"),
        },
        crate::config::VolumeMode::Unbounded => {
            tracing::warn!(
                "docker.volumes = \"unbounded\": app volumes are plain Docker volumes and \
                 `hdd` is not enforced; an app may fill this host's disk"
            );
            crate::runtime::DataVolumes::Unbounded
        }
    };
    rt_cfg.backoff.delays = config.docker.restart_delays.clone();
    rt_cfg.give_up_after_crashes = config.docker.give_up_after_crashes;
    if !config.docker.name_suffix.is_empty() {
        crate::runtime::plan::set_name_suffix(&config.docker.name_suffix);
    }
    let runtime = Runtime::new(rt_cfg, store.clone());
    if let Err(reason) = runtime.fixed_volumes() {
        tracing::error!(
            %reason,
            "this host cannot make fixed-size app volumes: not ready, and declining apps \
             with containerData (fix it, or set docker.volumes = \"unbounded\")"
        );
    }

    let mut node = Node::new(NodeConfig {
        id,
        total: whole_size(&facts),
        base_used: Resources::default(),
        // Spread beats and announcements over their periods by node id.
        phase: scheduler::protocol::name_hash(&id.node_id()),
    });
    node.set_rollout_policy(config.scheduler.rollout_policy());

    let (req_tx, req_rx) = mpsc::channel(256);
    let metric_registry = Arc::new(Mutex::new(metric_registry));
    let mut daemon = Daemon {
        id,
        key,
        clock,
        node,
        view,
        registry,
        members: Members::default(),
        facts,
        store: store.clone(),
        runtime: runtime.clone(),
        network: network.clone(),
        metrics,
        bench,
        bench_reports,
        started: Instant::now(),
        next_timer: None,
        tasks: JoinSet::new(),
        starting: BTreeSet::new(),
        peers: BTreeSet::new(),
        disconnected: Default::default(),
        bids: Default::default(),
        last_announcement: None,
        single_node: config.network.single_node,
        docker_ok: matches!(
            tokio::time::timeout(Duration::from_secs(5), runtime.ping()).await,
            Ok(Ok(()))
        ),
        volumes: runtime.fixed_volumes(),
        gossip: Default::default(),
        requests: req_rx,
        stopping: false,
        app_series: Default::default(),
        ports_swept: 0,
        outcomes: Default::default(),
        sync_answered: Default::default(),
        next_resync: 0,
        expired_apps: Default::default(),
        probes: Default::default(),
    };
    daemon.announce_self_locally();
    daemon.restore_standing();
    daemon.restore_reverts();
    daemon.adopt_running().await;
    runtime.spawn_supervisor(Duration::from_secs(5));

    let handle = DaemonHandle::new(req_tx, network, metric_registry);
    let service = tokio::spawn(daemon.run(events, shutdown));
    notify_ready();
    Ok(Started { handle, service })
}

impl Daemon {
    /// Puts this node in its own membership view before the first announcement leaves, so
    /// registrations arriving at once can already be placed here.
    fn announce_self_locally(&mut self) {
        let now = self.clock.now();
        let msg = scheduler::protocol::Msg::Announce {
            node: self.id,
            used_milli_cpu: 0,
            used_ram_mb: 0,
            used_hdd_gb: 0,
            restart_until: None,
        };
        if let Some(a) = super::wire::announcement(&msg, &self.facts, now, 0) {
            if let Some((info, m)) = self.members.on_announcement(&a, now) {
                self.view.upsert_member(self.id, info, now);
                let _ = self.view.apply(&m, now);
            }
            self.last_announcement = Some(a);
        }
        self.view.refresh(now);
    }

    /// Every record of `tree`; none, with a warning naming the tree, when it cannot be read
    /// (the node then only forgets what the tree kept).
    pub(super) fn stored<V: serde::de::DeserializeOwned>(&self, tree: Tree) -> Vec<(String, V)> {
        self.store.list::<V>(tree).unwrap_or_else(|e| {
            tracing::warn!(tree = %tree, error = %e, "could not read the stored records; starting with none");
            Vec::new()
        })
    }

    /// Gives the protocol back the strikes it persisted against other nodes, so a restart
    /// does not clear a liar's record. A record that cannot be read is skipped with a
    /// warning naming it (the node only forgets a strike).
    fn restore_standing(&mut self) {
        for (key, rec) in self.stored::<StandingRecord>(Tree::Standing) {
            let Ok(node) = key.parse::<NodeId>() else {
                tracing::warn!(
                    key,
                    "standing record under a key that is not a node id; skipped"
                );
                continue;
            };
            let strikes = Strikes {
                count: rec.count,
                until: rec.until_ms,
            };
            self.drive(Input::Standing { node, strikes });
        }
    }

    /// Takes over the containers this node ran before a restart (same container ids);
    /// apps cancelled or expired meanwhile are removed.
    async fn adopt_running(&mut self) {
        let report = match self.runtime.adopt().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not list containers to adopt (is Docker up?)");
                return;
            }
        };
        let now = self.clock.now();
        for a in report.adopted {
            let app: Arc<str> = Arc::from(a.app.as_str());
            if self.view.placeable(&app, now) {
                // The spec version its containers were made from (a restart in the middle of
                // a rolling update keeps what it runs; the coordinator moves it on).
                let version = self
                    .view
                    .app(&app)
                    .into_iter()
                    .flat_map(|e| e.versions.iter().map(|r| r.version))
                    .find(|&v| {
                        self.registry.spec_json_at(&app, v).is_some_and(|j| {
                            proto::message::SpecHash::of(j.as_bytes()).to_string() == a.spec_hash
                        })
                    })
                    .unwrap_or(0);
                tracing::info!(app = %app, containers = a.containers.len(), version, "adopted running app");
                self.drive(Input::Adopt { app, version });
            } else if self.view.app(&app).is_some() {
                tracing::info!(app = %app, "app ended while this node was down; removing it");
                self.drive(Input::ContainerExited { app: app.clone() });
                self.remove_app(app, true);
            } else {
                tracing::warn!(app = %app, "running app not in the registry; left alone until peers tell more");
            }
        }
        // Prepared for a bid before the restart and never started: the bid is long gone.
        for app in report.prepared_only {
            let rt = self.runtime.clone();
            tokio::spawn(async move {
                if let Err(e) = rt.unprepare(&app).await {
                    tracing::warn!(app = %app, error = %e, "could not clean up an old preparation");
                }
            });
        }
        for plan in report.missing {
            tracing::info!(app = %plan.app, "app had a plan but no containers; its group re-places it");
            let _ = self.store.delete(Tree::Assignments, &plan.app);
        }
    }
}

fn load_or_create_key(path: &std::path::Path) -> Result<proto::keys::Keypair, StartupError> {
    let err = |e: anyhow::Error| StartupError::Key {
        path: path.display().to_string(),
        message: format!("{e:#}"),
    };
    if !path.exists() {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let id = crate::cli::key::generate(path, false).map_err(err)?;
        tracing::info!(node = %id, path = %path.display(), "generated a new node key");
    }
    crate::cli::key::load(path).map_err(err)
}

/// The stored benchmark when fresh, else a new run. A failed run leaves the node able to
/// serve the API and relay gossip, but it offers no capacity.
async fn run_bench(config: &Config, options: &BenchOptions, store: &Store) -> Option<BenchReport> {
    let now = super::unix_ms() / 1_000;
    match bench::cache::at_start(store, options, config.bench.period, now).await {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "benchmark failed; this node offers no capacity until it passes");
            None
        }
    }
}

fn bench_options(config: &Config) -> BenchOptions {
    let profile = match config.node.tier_profile.as_str() {
        "testnet" => bench::tier::TierProfile::Testnet,
        _ => bench::tier::TierProfile::Mainnet,
    };
    BenchOptions {
        dir: config.node.data_dir.clone(),
        quick: config.bench.quick,
        profile,
    }
}

/// This node's announced facts from its benchmark: what it offers after the system
/// reserve. A node whose benchmark failed or that meets no tier offers nothing.
fn self_facts(config: &Config, bench: Option<&BenchReport>) -> SelfFacts {
    let scale = config.node.testnet_capacity_scale;
    let (tier, offered, score) = offer(bench, scale);
    let p2p = config
        .network
        .listen
        .iter()
        .find_map(|a| a.rsplit_once("/tcp/").map(|(_, p)| p.to_string()))
        .unwrap_or_else(|| crate::config::DEFAULT_P2P_PORT.to_string());
    let ip = config.node.advertise_addr;
    let proto_ip = if ip.is_ipv4() { "ip4" } else { "ip6" };
    SelfFacts {
        tier,
        location: config.node.geo.clone(),
        offered,
        bench_score: score,
        advertise_addr: format!("/{proto_ip}/{ip}/tcp/{p2p}"),
        network: super::trust::network_id(
            &config.node.tier_profile,
            config.chain.block_time.as_millis() as u64,
            config.chain.genesis,
        ),
        capacity_scale: scale,
    }
}

/// Tier, offered capacity and score a benchmark earns; nothing offered without a tier.
/// `scale` multiplies the measured size (testnets only, see `node.testnet_capacity_scale`).
pub(super) fn offer(bench: Option<&BenchReport>, scale: f64) -> (Tier, Resources, f64) {
    match bench.and_then(|b| b.tier.tier.map(|t| (t, b))) {
        Some((tier, b)) => {
            let inv = &b.inventory;
            let total = Resources::new(
                inv.cpus * scale,
                (inv.ram_bytes as f64 * scale) as u64 / (1024 * 1024),
                (inv.disk.total_bytes as f64 * scale) as u64 / 1_000_000_000,
            );
            (tier, sub(total, proto::tier::SYSTEM_RESERVE), b.bench_score)
        }
        None => (Tier::Cumulus, Resources::default(), 0.0),
    }
}

fn sub(a: Resources, b: Resources) -> Resources {
    Resources::new(
        (a.cpu - b.cpu).max(0.0),
        a.ram.saturating_sub(b.ram),
        a.hdd.saturating_sub(b.hdd),
    )
}

pub(super) fn whole_size(f: &SelfFacts) -> Resources {
    if f.offered == Resources::default() {
        return Resources::default();
    }
    let r = proto::tier::SYSTEM_RESERVE;
    Resources::new(
        f.offered.cpu + r.cpu,
        f.offered.ram + r.ram,
        f.offered.hdd + r.hdd,
    )
}

/// Tells systemd the node is up (no-op outside systemd).
fn notify_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// Pets the systemd watchdog (no-op outside systemd or without `WatchdogSec`).
pub(super) fn notify_watchdog() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
}

pub(super) fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
