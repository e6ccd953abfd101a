//! `fluxnode doctor`: checks that a host can run the daemon (or that the running daemon is
//! healthy), one line per check: `ok|warn|FAIL  what  detail — how to fix`.
//!
//! Takes the same flags, environment and file as `fluxnode run`, so it checks exactly the
//! configuration the daemon would use. Exit 0 when nothing failed, 1 otherwise.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::Args;

use super::remote::block_on;
use crate::api::NodeStatus;
use crate::api::client::{ApiClient, ClientError};
use crate::config::{Config, DEFAULT_CONFIG_PATH, RunArgs};

mod probes;
mod remote;

/// 2024-01-01T00:00:00Z: a clock before this is certainly wrong (fluxnode did not exist).
const SANE_CLOCK_FLOOR_UNIX: u64 = 1_704_067_200;
/// How long each probe (API, Docker, timedatectl) may take: all are local.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
#[command(mut_arg("print_config", |a| a.hide(true)))]
pub struct DoctorArgs {
    /// The daemon's HTTP API. Default: the configured `api.listen` on this host. Another
    /// node's API is checked through that API only (nothing on this host is looked at).
    #[arg(long, env = "FLUXNODE_API", value_name = "URL")]
    pub api: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so the `{:<4}` of a check line aligns the columns.
        f.pad(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        })
    }
}

/// One check's verdict.
#[derive(Debug, Clone)]
pub struct Check {
    pub level: Level,
    pub what: &'static str,
    pub detail: String,
    /// What to do about a warning or failure.
    pub fix: Option<String>,
}

impl Check {
    fn ok(what: &'static str, detail: impl Into<String>) -> Self {
        Self {
            level: Level::Ok,
            what,
            detail: detail.into(),
            fix: None,
        }
    }
    fn warn(what: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            level: Level::Warn,
            what,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn fail(what: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            level: Level::Fail,
            what,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4}  {:<9} {}", self.level, self.what, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, " — {fix}")?;
        }
        Ok(())
    }
}

pub fn run(args: DoctorArgs) -> Result<ExitCode> {
    let checks = block_on(async { Ok(checks(&args).await) })?;
    for c in &checks {
        outln!("{c}");
    }
    Ok(if checks.iter().any(|c| c.level == Level::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every check, in the order printed.
pub async fn checks(args: &DoctorArgs) -> Vec<Check> {
    let loaded = Config::load(&args.run);
    let own_url = local_api_url(
        loaded
            .as_ref()
            .map_or_else(|_| Config::default().api.listen, |c| c.api.listen),
    );
    if let Some(url) = &args.api {
        if url.trim_end_matches('/') != own_url {
            return remote::checks(url).await;
        }
    }
    let mut out = Vec::new();
    let config = match loaded {
        Ok(config) => {
            out.push(Check::ok("config", config_source(&args.run)));
            config
        }
        Err(e) => {
            out.push(Check::fail(
                "config",
                format!("{e}; the checks below use the defaults"),
                "fix that key (`fluxnode run --print-config` shows the resolved configuration)",
            ));
            Config::default()
        }
    };

    let (api_check, daemon) = probe_daemon(&own_url).await;
    out.push(api_check);
    out.push(probes::docker(&config.docker.socket, PROBE_TIMEOUT).await);
    out.push(probes::data_dir(&config.node.data_dir));
    out.push(probes::volumes(config.docker.volumes));
    if daemon.is_some() {
        out.push(Check::ok(
            "ports",
            "held by the running daemon (API and p2p)",
        ));
    } else {
        out.push(probes::tcp_port(
            "api port",
            config.api.listen,
            "api.listen",
        ));
        out.extend(config.network.listen.iter().map(|a| probes::p2p_port(a)));
    }
    out.extend(clock().await);
    if let Some(node) = &daemon {
        out.push(peers(node, config.network.single_node));
    }
    out.push(key(&config.node.key_file, daemon.as_ref()));
    out
}

fn config_source(args: &RunArgs) -> String {
    match &args.config {
        Some(path) => format!("resolved from {}", path.display()),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            format!("resolved from {DEFAULT_CONFIG_PATH}")
        }
        None => "resolved from defaults, environment and flags (no config file)".to_owned(),
    }
}

/// The URL this host reaches its own API on: a wildcard listen address means loopback.
fn local_api_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

async fn probe_daemon(url: &str) -> (Check, Option<NodeStatus>) {
    let client = match ApiClient::with_timeouts(url, PROBE_TIMEOUT, PROBE_TIMEOUT) {
        Ok(c) => c,
        Err(e) => return (Check::fail("daemon", e.to_string(), "fix --api"), None),
    };
    match client.node().await {
        Ok(node) => (
            Check::ok(
                "daemon",
                format!(
                    "running at {url}: node {}, version {}, height {}",
                    node.id, node.version, node.height
                ),
            ),
            Some(node),
        ),
        Err(ClientError::Unreachable { .. }) => (
            Check::warn(
                "daemon",
                format!("not answering at {url}"),
                "start it (`fluxnode run`, or `systemctl start fluxnode`); checks below are for a start",
            ),
            None,
        ),
        Err(e) => (
            Check::fail(
                "daemon",
                format!("{url} answers, but not as the fluxnode API: {e}"),
                "point --api at the daemon, or stop what holds its port",
            ),
            None,
        ),
    }
}

async fn clock() -> Vec<Check> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now < SANE_CLOCK_FLOOR_UNIX {
        return vec![Check::fail(
            "clock",
            format!("the system clock reads {now} s since 1970, before 2024"),
            "set the time and enable NTP (systemd-timesyncd or chrony)",
        )];
    }
    let drift_note = "peers drop gossip more than 5 min old or 2 min ahead";
    match probes::ntp_synchronized(PROBE_TIMEOUT).await {
        Some(true) => vec![Check::ok("clock", "NTP-synchronized")],
        Some(false) => vec![Check::warn(
            "clock",
            "not NTP-synchronized",
            format!("enable NTP (`timedatectl set-ntp true`); {drift_note}"),
        )],
        None => vec![Check::warn(
            "clock",
            "cannot tell whether the clock is synchronized (`timedatectl` unavailable)",
            format!("make sure NTP runs; {drift_note}"),
        )],
    }
}

fn peers(node: &NodeStatus, single_node: bool) -> Check {
    match node.peers {
        0 if single_node => Check::ok("peers", "none (single-node mode)"),
        0 => Check::warn(
            "peers",
            "the daemon has no peers",
            "set network.bootstrap (or network.mdns on a LAN) and open the p2p port to other nodes",
        ),
        n => Check::ok("peers", format!("{n} connected")),
    }
}

fn key(path: &Path, daemon: Option<&NodeStatus>) -> Check {
    if !path.exists() {
        return Check::warn(
            "key",
            format!("{} does not exist", path.display()),
            format!(
                "`fluxnode run` creates it on first start, or run `fluxnode key generate --out {}`",
                path.display()
            ),
        );
    }
    match super::key::load(path) {
        Ok(key) => {
            let id = key.public().node_id();
            match daemon {
                Some(node) if node.id != id => Check::warn(
                    "key",
                    format!(
                        "{} is node {id}, but the daemon runs as {}",
                        path.display(),
                        node.id
                    ),
                    "the daemon uses another key file; check node.key_file",
                ),
                _ => Check::ok("key", format!("{} loads: node {id}", path.display())),
            }
        }
        Err(e) => Check::fail(
            "key",
            format!("{e:#}"),
            "restore the key file from a backup; a new key is a new node identity",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        assert_eq!(
            local_api_url("0.0.0.0:16127".parse().unwrap()),
            "http://127.0.0.1:16127"
        );
        assert_eq!(local_api_url("[::]:9".parse().unwrap()), "http://[::1]:9");
        assert_eq!(
            local_api_url("10.1.2.3:80".parse().unwrap()),
            "http://10.1.2.3:80"
        );
    }

    #[test]
    fn lines_read_level_what_detail_fix() {
        let c = Check::fail("data dir", "/x is not writable", "fix it");
        assert_eq!(c.to_string(), "FAIL  data dir  /x is not writable — fix it");
        assert_eq!(Check::ok("key", "k").to_string(), "ok    key       k");
    }
}
