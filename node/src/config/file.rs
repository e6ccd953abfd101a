//! The TOML configuration file. Every field is optional: what the file leaves out falls back
//! to the environment-free defaults in [`super::Config::default`]. Unknown keys are refused
//! with their name, so a typo never silently becomes a default.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, LogFormat, VolumeMode};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub node: NodeSection,
    #[serde(default)]
    pub network: NetworkSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub docker: DockerSection,
    #[serde(default)]
    pub chain: ChainSection,
    #[serde(default)]
    pub bench: BenchSection,
    #[serde(default)]
    pub scheduler: SchedulerSection,
    #[serde(default)]
    pub log: LogSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub data_dir: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub geo: Option<String>,
    pub advertise_addr: Option<IpAddr>,
    pub tier_profile: Option<String>,
    pub testnet_capacity_scale: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub listen: Option<Vec<String>>,
    pub bootstrap: Option<Vec<String>>,
    pub mdns: Option<bool>,
    pub single_node: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSection {
    pub socket: Option<PathBuf>,
    pub labels: Option<Vec<String>>,
    pub name_suffix: Option<String>,
    pub loopback_registries: Option<Vec<String>>,
    pub app_subnet_pool: Option<String>,
    pub app_subnet_prefix: Option<u8>,
    pub volumes: Option<VolumeMode>,
    /// Delays before restarting a crashed (or unhealthy) container, by consecutive crash.
    pub restart_delays: Option<Vec<String>>,
    /// Consecutive crashes after which the node gives the instance up.
    pub give_up_after_crashes: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    /// Unix time, in seconds, of block 0.
    pub genesis: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    pub block_time: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchSection {
    #[serde(default, with = "humantime_serde")]
    pub period: Option<Duration>,
    pub quick: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSection {
    pub min_uptime: Option<f64>,
    pub rollout_max_parallel: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub rollout_min_healthy: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub rollout_deadline: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<LogFormat>,
    pub filter: Option<String>,
}

impl FileConfig {
    /// Reads and parses `path`. A missing file is an error only when `required` (the
    /// operator named it explicitly); the default path may be absent.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; the error names the key and line.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}
