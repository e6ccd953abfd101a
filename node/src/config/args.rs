//! `fluxnode run` flags, one clap group per concern. Every flag has a `FLUXNODE_*`
//! environment fallback (clap resolves flag > env); what neither sets comes from the file,
//! then the defaults (see [`super::Config::resolve`]).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{LogFormat, VolumeMode};

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30s, 100ms, 6h)"))
}

/// Arguments of `fluxnode run`.
#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// TOML configuration file. Defaults to /etc/fluxnode/fluxnode.toml when it exists.
    #[arg(long, short = 'c', env = "FLUXNODE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the resolved configuration (flags > env > file > defaults) as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub docker: DockerArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub bench: BenchArgs,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Node")]
pub struct NodeArgs {
    /// Directory for the store, the benchmark scratch file and the node key.
    #[arg(long, env = "FLUXNODE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Node key file (`fluxnode key generate`); created on first start when absent.
    #[arg(long, env = "FLUXNODE_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Node location as CONT_CC_REGION, e.g. EU_DE_Hesse.
    #[arg(long, env = "FLUXNODE_GEO", value_name = "CONT_CC_REGION")]
    pub geo: Option<String>,
    /// Address app ports are bound on and announced to peers.
    #[arg(long, env = "FLUXNODE_ADVERTISE_ADDR", value_name = "IP")]
    pub advertise_addr: Option<IpAddr>,
    /// Tier minimums to classify against: `flux` (published) or `testnet` (scaled down).
    #[arg(long, env = "FLUXNODE_TIER_PROFILE", value_name = "PROFILE")]
    pub tier_profile: Option<String>,
    /// Testnet only: offer this many times the measured size to apps, so one small machine
    /// can host hundreds of the smallest apps in a test (needs tier profile `testnet`).
    #[arg(long, env = "FLUXNODE_TESTNET_CAPACITY_SCALE", value_name = "FACTOR")]
    pub testnet_capacity_scale: Option<f64>,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Network")]
pub struct NetworkArgs {
    /// libp2p listen multiaddr (repeatable).
    #[arg(
        long = "listen",
        env = "FLUXNODE_LISTEN",
        value_delimiter = ',',
        value_name = "MULTIADDR"
    )]
    pub listen: Option<Vec<String>>,
    /// Bootstrap peer multiaddr with /p2p/ id (repeatable).
    #[arg(
        long = "bootstrap",
        env = "FLUXNODE_BOOTSTRAP",
        value_delimiter = ',',
        value_name = "MULTIADDR"
    )]
    pub bootstrap: Option<Vec<String>>,
    /// Discover peers on the local network with mDNS.
    #[arg(long, env = "FLUXNODE_MDNS", value_name = "BOOL")]
    pub mdns: Option<bool>,
    /// Run without peers (readiness does not wait for one).
    #[arg(long, env = "FLUXNODE_SINGLE_NODE", value_name = "BOOL")]
    pub single_node: Option<bool>,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "HTTP API")]
pub struct ApiArgs {
    /// HTTP API listen address.
    #[arg(
        id = "api_listen",
        long = "api-listen",
        env = "FLUXNODE_API_LISTEN",
        value_name = "ADDR:PORT"
    )]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Docker")]
pub struct DockerArgs {
    /// Docker Engine API socket.
    #[arg(
        long = "docker-socket",
        env = "FLUXNODE_DOCKER_SOCKET",
        value_name = "PATH"
    )]
    pub socket: Option<PathBuf>,
    /// Extra `KEY=VALUE` label on every container, network and volume (repeatable).
    #[arg(
        long = "docker-label",
        env = "FLUXNODE_DOCKER_LABELS",
        value_delimiter = ',',
        value_name = "KEY=VALUE"
    )]
    pub labels: Option<Vec<String>>,
    /// Suffix for Docker object names, so several nodes can share one Docker engine (a
    /// local testnet). Empty on a real node: names are then exactly FluxOS's.
    #[arg(
        long = "docker-name-suffix",
        env = "FLUXNODE_DOCKER_NAME_SUFFIX",
        value_name = "SUFFIX"
    )]
    pub name_suffix: Option<String>,
    /// Loopback registry (`HOST:PORT`, e.g. `127.0.0.1:5000`) images may be pulled from
    /// (repeatable). Any other `localhost`/`127.*`/`::1` registry is refused: on a real
    /// node it would run whatever this host serves under the app owner's name. For local
    /// testnets and tests.
    #[arg(
        long = "docker-loopback-registry",
        env = "FLUXNODE_DOCKER_LOOPBACK_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST:PORT"
    )]
    pub loopback_registries: Option<Vec<String>>,
    /// Address pool app networks take their subnets from (FluxOS: 172.23.0.0/16).
    #[arg(
        long = "docker-app-subnet-pool",
        env = "FLUXNODE_DOCKER_APP_SUBNET_POOL",
        value_name = "CIDR"
    )]
    pub app_subnet_pool: Option<String>,
    /// Prefix length of each app network's subnet (FluxOS: 24, one /24 per app).
    #[arg(
        long = "docker-app-subnet-prefix",
        env = "FLUXNODE_DOCKER_APP_SUBNET_PREFIX",
        value_name = "BITS"
    )]
    pub app_subnet_prefix: Option<u8>,
    /// App data volumes: `loop` (default: a fixed-size ext4 image per volume, `hdd`
    /// enforced) or `unbounded` (plain Docker volumes, `hdd` not enforced).
    #[arg(
        long = "docker-volumes",
        env = "FLUXNODE_DOCKER_VOLUMES",
        value_enum,
        value_name = "MODE"
    )]
    pub volumes: Option<VolumeMode>,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Chain clock")]
pub struct ChainArgs {
    /// Unix time in seconds of block 0 of the simulated chain.
    #[arg(long, env = "FLUXNODE_GENESIS", value_name = "UNIX_SECONDS")]
    pub genesis: Option<u64>,
    /// Block time (Flux: 30s; a testnet may use 100ms to see expiry happen).
    #[arg(long, env = "FLUXNODE_BLOCK_TIME", value_parser = parse_duration, value_name = "DURATION")]
    pub block_time: Option<Duration>,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Benchmark")]
pub struct BenchArgs {
    /// How often the host benchmark is re-run.
    #[arg(long = "bench-period", env = "FLUXNODE_BENCH_PERIOD", value_parser = parse_duration, value_name = "DURATION")]
    pub period: Option<Duration>,
    /// Use the quick benchmark (≤ 3 s) instead of the full one.
    #[arg(
        long = "bench-quick",
        env = "FLUXNODE_BENCH_QUICK",
        value_name = "BOOL"
    )]
    pub quick: Option<bool>,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Scheduler")]
pub struct SchedulerArgs {
    /// Minimum observed uptime (0..=1) for a node to be eligible.
    #[arg(long, env = "FLUXNODE_MIN_UPTIME", value_name = "FRACTION")]
    pub min_uptime: Option<f64>,
    /// Rolling updates this node coordinates: instances moved at once.
    #[arg(long, env = "FLUXNODE_ROLLOUT_MAX_PARALLEL", value_name = "N")]
    pub rollout_max_parallel: Option<u32>,
    /// Rolling updates: how long a moved instance must stay healthy before the next step.
    #[arg(long, env = "FLUXNODE_ROLLOUT_MIN_HEALTHY", value_name = "DURATION", value_parser = parse_duration)]
    pub rollout_min_healthy: Option<Duration>,
    /// Rolling updates: a moved instance not healthy (for the min-healthy time) this long
    /// after its move reverts the update.
    #[arg(long, env = "FLUXNODE_ROLLOUT_DEADLINE", value_name = "DURATION", value_parser = parse_duration)]
    pub rollout_deadline: Option<Duration>,
}

#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log line format.
    #[arg(
        long = "log-format",
        env = "FLUXNODE_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    pub format: Option<LogFormat>,
    /// Log filter (RUST_LOG syntax); RUST_LOG itself also works.
    #[arg(long = "log-filter", env = "FLUXNODE_LOG", value_name = "FILTER")]
    pub filter: Option<String>,
}
