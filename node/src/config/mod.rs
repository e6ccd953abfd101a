//! Daemon configuration: defaults < TOML file < `FLUXNODE_*` environment < flags.
//!
//! [`RunArgs`] holds what the command line and environment said (clap resolves flag over
//! env), [`FileConfig`] what the file said; [`Config::resolve`] layers them over the
//! defaults and validates the result, naming the offending key on error.

mod args;
mod file;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use args::RunArgs;
pub use file::FileConfig;

/// Where the daemon looks for its file when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/fluxnode/fluxnode.toml";
/// FluxOS's API port; fluxnode answers on the same one by default.
pub const DEFAULT_API_PORT: u16 = 16127;
/// libp2p port: next to the API port, outside FluxOS's banned app ranges' use by apps.
pub const DEFAULT_P2P_PORT: u16 = 16125;
/// Flux's block time since the PON fork.
pub const DEFAULT_BLOCK_TIME: Duration = Duration::from_secs(30);
/// How often the host benchmark is repeated (hardware rarely changes; 6 h keeps the score
/// fresh after, e.g., a noisy neighbour moves in).
pub const DEFAULT_BENCH_PERIOD: Duration = Duration::from_secs(6 * 3600);
/// Shortest accepted `bench.period`: the quick benchmark loads every core for about 2 s,
/// so 10 s still leaves the host mostly idle. Only tests want periods this short.
pub const MIN_BENCH_PERIOD: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// How app data volumes are made (`docker.volumes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VolumeMode {
    /// A fixed-size ext4 image per component volume, attached by loop: an app cannot
    /// write more than its `hdd`. Needs loop devices (see `fluxnode doctor`).
    #[default]
    Loop,
    /// Plain Docker volumes: `hdd` is NOT enforced, an app may fill the host's disk. For
    /// hosts without loop devices (some containers and sandboxes), by explicit choice.
    Unbounded,
}

/// The resolved configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub node: NodeConfig,
    pub network: NetworkConfig,
    pub api: ApiConfig,
    pub docker: DockerConfig,
    pub chain: ChainConfig,
    pub bench: BenchConfig,
    pub scheduler: SchedulerConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    pub geo: proto::geo::Location,
    pub advertise_addr: IpAddr,
    pub tier_profile: String,
    /// Testnet only: the measured size is multiplied by this before the reserve is taken
    /// (1 everywhere else).
    pub testnet_capacity_scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkConfig {
    pub listen: Vec<String>,
    pub bootstrap: Vec<String>,
    pub mdns: bool,
    pub single_node: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerConfig {
    pub socket: PathBuf,
    /// `KEY=VALUE` labels added to every Docker object the node creates.
    pub labels: Vec<String>,
    /// Appended to container, network and volume names (see `--docker-name-suffix`).
    pub name_suffix: String,
    /// Loopback registries (`host:port`) images may come from; empty on a real node.
    pub loopback_registries: Vec<String>,
    /// Address pool of app network subnets (CIDR).
    pub app_subnet_pool: String,
    /// Prefix length of one app network's subnet.
    pub app_subnet_prefix: u8,
    /// Fixed-size (loop) or unbounded app data volumes.
    pub volumes: VolumeMode,
    /// Restart delays by consecutive crash (config file only; the last repeats).
    #[serde(serialize_with = "delays_text")]
    pub restart_delays: Vec<Duration>,
    /// Consecutive crashes (each after a run shorter than 10 min) after which the node
    /// gives the instance up and the network re-places it (config file only).
    pub give_up_after_crashes: u32,
}

impl DockerConfig {
    /// The app subnet pool, or an error naming the field at fault.
    pub fn subnet_pool(&self) -> Result<crate::runtime::subnet::SubnetPool, ConfigError> {
        let pool: ipnet::Ipv4Net = self.app_subnet_pool.parse().map_err(|e| {
            invalid(
                "docker.app_subnet_pool",
                format!(
                    "{:?} is not an IPv4 CIDR such as 172.23.0.0/16: {e}",
                    self.app_subnet_pool
                ),
            )
        })?;
        crate::runtime::subnet::SubnetPool::new(pool, self.app_subnet_prefix)
            .map_err(|e| invalid("docker.app_subnet_prefix", e))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainConfig {
    pub genesis: u64,
    #[serde(with = "humantime_serde")]
    pub block_time: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchConfig {
    #[serde(with = "humantime_serde")]
    pub period: Duration,
    pub quick: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerConfig {
    pub min_uptime: f64,
    /// Rolling updates this node coordinates (see `scheduler::protocol::RolloutPolicy`).
    pub rollout_max_parallel: u32,
    #[serde(with = "humantime_serde")]
    pub rollout_min_healthy: Duration,
    #[serde(with = "humantime_serde")]
    pub rollout_deadline: Duration,
}

impl SchedulerConfig {
    /// The protocol's rollout policy from these settings.
    pub fn rollout_policy(&self) -> scheduler::protocol::RolloutPolicy {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        scheduler::protocol::RolloutPolicy {
            max_parallel: self.rollout_max_parallel,
            min_healthy: ms(self.rollout_min_healthy),
            deadline: ms(self.rollout_deadline),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from("/var/lib/fluxnode");
        Self {
            node: NodeConfig {
                key_file: data_dir.join("node.key"),
                data_dir,
                geo: proto::geo::Location {
                    continent: "EU".into(),
                    country: String::new(),
                    region: String::new(),
                },
                advertise_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
                tier_profile: "flux".into(),
                testnet_capacity_scale: 1.0,
            },
            network: NetworkConfig {
                listen: vec![format!("/ip4/0.0.0.0/tcp/{DEFAULT_P2P_PORT}")],
                bootstrap: Vec::new(),
                mdns: false,
                single_node: false,
            },
            api: ApiConfig {
                listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_API_PORT),
            },
            docker: DockerConfig {
                socket: PathBuf::from("/var/run/docker.sock"),
                labels: Vec::new(),
                name_suffix: String::new(),
                loopback_registries: Vec::new(),
                app_subnet_pool: crate::runtime::subnet::DEFAULT_POOL.into(),
                app_subnet_prefix: crate::runtime::subnet::DEFAULT_PREFIX,
                volumes: VolumeMode::Loop,
                restart_delays: crate::runtime::BackoffPolicy::default().delays,
                give_up_after_crashes: crate::runtime::DEFAULT_GIVE_UP_AFTER_CRASHES,
            },
            chain: ChainConfig {
                genesis: 0,
                block_time: DEFAULT_BLOCK_TIME,
            },
            bench: BenchConfig {
                period: DEFAULT_BENCH_PERIOD,
                quick: false,
            },
            scheduler: {
                let p = scheduler::protocol::RolloutPolicy::default();
                SchedulerConfig {
                    min_uptime: 0.9,
                    rollout_max_parallel: p.max_parallel,
                    rollout_min_healthy: Duration::from_millis(p.min_healthy),
                    rollout_deadline: Duration::from_millis(p.deadline),
                }
            },
            log: LogConfig {
                format: LogFormat::Text,
                filter: "info".into(),
            },
        }
    }
}

impl Config {
    /// Loads the file named by `--config`/`FLUXNODE_CONFIG` (or the default path when it
    /// exists) and layers the arguments over it.
    pub fn load(args: &RunArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path, true)?,
            None => FileConfig::load(DEFAULT_CONFIG_PATH.as_ref(), false)?,
        };
        Self::resolve(args, file)
    }

    /// defaults < file < env/flags, then validation.
    pub fn resolve(args: &RunArgs, file: FileConfig) -> Result<Self, ConfigError> {
        let d = Config::default();
        let data_dir = pick(
            args.node.data_dir.clone(),
            file.node.data_dir,
            d.node.data_dir,
        );
        let key_file = args
            .node
            .key_file
            .clone()
            .or(file.node.key_file)
            .unwrap_or_else(|| data_dir.join("node.key"));
        let geo_text = args.node.geo.clone().or(file.node.geo);
        let geo = match geo_text {
            Some(text) => text
                .parse()
                .map_err(|e: proto::geo::GeoError| invalid("node.geo", e))?,
            None => d.node.geo,
        };
        let tier_profile = pick(
            args.node.tier_profile.clone(),
            file.node.tier_profile,
            d.node.tier_profile,
        );
        if !matches!(tier_profile.as_str(), "flux" | "testnet") {
            return Err(invalid(
                "node.tier_profile",
                format!("{tier_profile:?} is not flux or testnet"),
            ));
        }
        let testnet_capacity_scale = pick(
            args.node.testnet_capacity_scale,
            file.node.testnet_capacity_scale,
            d.node.testnet_capacity_scale,
        );
        if !(testnet_capacity_scale.is_finite()
            && (1.0..=1_000.0).contains(&testnet_capacity_scale))
        {
            return Err(invalid(
                "node.testnet_capacity_scale",
                format!("{testnet_capacity_scale} is not within 1..=1000"),
            ));
        }
        if testnet_capacity_scale != 1.0 && tier_profile != "testnet" {
            return Err(invalid(
                "node.testnet_capacity_scale",
                "is for test networks only: it needs node.tier_profile = \"testnet\"",
            ));
        }
        let config = Config {
            node: NodeConfig {
                data_dir,
                key_file,
                geo,
                advertise_addr: pick(
                    args.node.advertise_addr,
                    file.node.advertise_addr,
                    d.node.advertise_addr,
                ),
                tier_profile,
                testnet_capacity_scale,
            },
            network: NetworkConfig {
                listen: pick(
                    args.network.listen.clone(),
                    file.network.listen,
                    d.network.listen,
                ),
                bootstrap: pick(
                    args.network.bootstrap.clone(),
                    file.network.bootstrap,
                    d.network.bootstrap,
                ),
                mdns: pick(args.network.mdns, file.network.mdns, d.network.mdns),
                single_node: pick(
                    args.network.single_node,
                    file.network.single_node,
                    d.network.single_node,
                ),
            },
            api: ApiConfig {
                listen: pick(args.api.listen, file.api.listen, d.api.listen),
            },
            docker: DockerConfig {
                socket: pick(
                    args.docker.socket.clone(),
                    file.docker.socket,
                    d.docker.socket,
                ),
                labels: pick(
                    args.docker.labels.clone(),
                    file.docker.labels,
                    d.docker.labels,
                ),
                name_suffix: pick(
                    args.docker.name_suffix.clone(),
                    file.docker.name_suffix,
                    d.docker.name_suffix,
                ),
                loopback_registries: pick(
                    args.docker.loopback_registries.clone(),
                    file.docker.loopback_registries,
                    d.docker.loopback_registries,
                ),
                app_subnet_pool: pick(
                    args.docker.app_subnet_pool.clone(),
                    file.docker.app_subnet_pool,
                    d.docker.app_subnet_pool,
                ),
                app_subnet_prefix: pick(
                    args.docker.app_subnet_prefix,
                    file.docker.app_subnet_prefix,
                    d.docker.app_subnet_prefix,
                ),
                volumes: pick(args.docker.volumes, file.docker.volumes, d.docker.volumes),
                restart_delays: match file.docker.restart_delays {
                    Some(list) => parse_delays(&list)?,
                    None => d.docker.restart_delays,
                },
                give_up_after_crashes: file
                    .docker
                    .give_up_after_crashes
                    .unwrap_or(d.docker.give_up_after_crashes),
            },
            chain: ChainConfig {
                genesis: pick(args.chain.genesis, file.chain.genesis, d.chain.genesis),
                block_time: pick(
                    args.chain.block_time,
                    file.chain.block_time,
                    d.chain.block_time,
                ),
            },
            bench: BenchConfig {
                period: pick(args.bench.period, file.bench.period, d.bench.period),
                quick: pick(args.bench.quick, file.bench.quick, d.bench.quick),
            },
            scheduler: SchedulerConfig {
                min_uptime: pick(
                    args.scheduler.min_uptime,
                    file.scheduler.min_uptime,
                    d.scheduler.min_uptime,
                ),
                rollout_max_parallel: pick(
                    args.scheduler.rollout_max_parallel,
                    file.scheduler.rollout_max_parallel,
                    d.scheduler.rollout_max_parallel,
                ),
                rollout_min_healthy: pick(
                    args.scheduler.rollout_min_healthy,
                    file.scheduler.rollout_min_healthy,
                    d.scheduler.rollout_min_healthy,
                ),
                rollout_deadline: pick(
                    args.scheduler.rollout_deadline,
                    file.scheduler.rollout_deadline,
                    d.scheduler.rollout_deadline,
                ),
            },
            log: LogConfig {
                format: pick(args.log.format, file.log.format, d.log.format),
                filter: pick(args.log.filter.clone(), file.log.filter, d.log.filter),
            },
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.docker.give_up_after_crashes == 0 {
            return Err(invalid(
                "docker.give_up_after_crashes",
                "must be at least 1 (the first crash is always restarted)",
            ));
        }
        for r in &self.docker.loopback_registries {
            if r.is_empty() || r.contains('/') || r.contains(char::is_whitespace) {
                return Err(invalid(
                    "docker.loopback_registries",
                    format!("{r:?} is not a registry HOST:PORT (e.g. 127.0.0.1:5000)"),
                ));
            }
        }
        for l in &self.docker.labels {
            if l.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                return Err(invalid("docker.labels", format!("{l:?} is not KEY=VALUE")));
            }
        }
        if !self
            .docker
            .name_suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                "docker.name_suffix",
                "use only ASCII letters, digits, '_' and '-' (it becomes part of Docker names)",
            ));
        }
        self.docker.subnet_pool()?;
        if self.chain.block_time < Duration::from_millis(10) {
            return Err(invalid("chain.block_time", "must be at least 10ms"));
        }
        if self.bench.period < MIN_BENCH_PERIOD {
            return Err(invalid("bench.period", "must be at least 10s"));
        }
        if !(0.0..=1.0).contains(&self.scheduler.min_uptime) {
            return Err(invalid("scheduler.min_uptime", "must be between 0 and 1"));
        }
        if !(1..=100).contains(&self.scheduler.rollout_max_parallel) {
            return Err(invalid(
                "scheduler.rollout_max_parallel",
                "must be between 1 and 100 (an app has at most 100 instances)",
            ));
        }
        if self.scheduler.rollout_deadline <= self.scheduler.rollout_min_healthy {
            return Err(invalid(
                "scheduler.rollout_deadline",
                "must be longer than scheduler.rollout_min_healthy (a moved instance must be able to pass)",
            ));
        }
        if self.network.listen.is_empty() {
            return Err(invalid("network.listen", "needs at least one multiaddr"));
        }
        for (key, list) in [
            ("network.listen", &self.network.listen),
            ("network.bootstrap", &self.network.bootstrap),
        ] {
            if let Some(bad) = list.iter().find(|a| !a.starts_with('/')) {
                return Err(invalid(
                    key,
                    format!("{bad:?} is not a multiaddr (e.g. /ip4/10.0.0.1/tcp/16125)"),
                ));
            }
        }
        Ok(())
    }

    /// The configuration as TOML, for `fluxnode run --print-config`.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| invalid("config", e))
    }
}

fn pick<T>(arg: Option<T>, file: Option<T>, default: T) -> T {
    arg.or(file).unwrap_or(default)
}

fn invalid(key: &'static str, message: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests;

/// `docker.restart_delays`: humantime durations ("0s", "30s", "5m"), at least one.
fn parse_delays(list: &[String]) -> Result<Vec<Duration>, ConfigError> {
    if list.is_empty() {
        return Err(invalid(
            "docker.restart_delays",
            "give at least one delay, e.g. [\"0s\", \"30s\", \"5m\"]",
        ));
    }
    list.iter()
        .map(|s| {
            humantime::parse_duration(s).map_err(|e| {
                invalid(
                    "docker.restart_delays",
                    format!("{s:?} is not a duration such as 30s: {e}"),
                )
            })
        })
        .collect()
}

fn delays_text<S: serde::Serializer>(d: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(d.iter().map(|d| humantime::format_duration(*d).to_string()))
}
