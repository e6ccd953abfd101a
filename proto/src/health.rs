//! The owner-declared health check of a component.
//!
//! A Flux spec has no health field, and a new key would fail FluxOS's validation (and
//! change what the owner signs in a way FluxOS nodes refuse), so the check travels as a
//! reserved entry of the component's `environmentParameters`:
//!
//! ```text
//! FLUXNODE_HEALTHCHECK=http:8080/healthz period=5s timeout=2s failures=3 grace=10s restarts=3
//! FLUXNODE_HEALTHCHECK=tcp:8080
//! FLUXNODE_HEALTHCHECK=none
//! ```
//!
//! - `http:PORT/path`: an HTTP GET of `/path` on the container port `PORT` must answer
//!   2xx or 3xx within the timeout;
//! - `tcp:PORT`: a TCP connection to the container port `PORT` must open;
//! - `none`: no probing (the instance is healthy while it runs);
//! - options (any order, each at most once): `period` between probes (1 s–5 min, default
//!   5 s), `timeout` of one probe (≤ period, default 2 s), `failures` in a row that make an
//!   instance unhealthy (1–100, default 3), `grace` after a start before failures count
//!   (≤ 10 min, default 10 s), `restarts` of an unhealthy instance before its host gives it
//!   up (0–20, default 3). Durations are a whole number of `ms`, `s` or `m`.
//!
//! The entry stays an ordinary `KEY=value` environment variable, so FluxOS accepts the
//! spec and the container simply sees one more variable. Without an entry, the node probes
//! the image's own Docker `HEALTHCHECK` when it has one, else opens a TCP connection to
//! each of the component's container ports.

use std::fmt;

/// The reserved environment key.
pub const ENV_KEY: &str = "FLUXNODE_HEALTHCHECK";

/// Kubernetes-like defaults: a probe every 5 s, unhealthy after 3 failures in a row.
pub const DEFAULT_PERIOD_MS: u64 = 5_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;
pub const DEFAULT_FAILURES: u32 = 3;
/// A fresh container gets this long before failed probes count (it may still be binding).
pub const DEFAULT_GRACE_MS: u64 = 10_000;
/// Restarts of a still-unhealthy instance before its host gives it up.
pub const DEFAULT_RESTARTS: u32 = 3;

const PERIOD_RANGE: (u64, u64) = (1_000, 300_000);
const GRACE_MAX: u64 = 600_000;
const FAILURES_MAX: u32 = 100;
const RESTARTS_MAX: u32 = 20;

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Tcp { port: u16 },
    Http { port: u16, path: String },
    None,
}

/// A parsed health check with its thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: Probe,
    pub period_ms: u64,
    pub timeout_ms: u64,
    pub failures: u32,
    pub grace_ms: u64,
    pub restarts: u32,
}

impl HealthCheck {
    /// The defaults around a probe.
    pub fn with_probe(probe: Probe) -> Self {
        Self {
            probe,
            period_ms: DEFAULT_PERIOD_MS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            failures: DEFAULT_FAILURES,
            grace_ms: DEFAULT_GRACE_MS,
            restarts: DEFAULT_RESTARTS,
        }
    }
}

/// Why a `FLUXNODE_HEALTHCHECK` value is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthSyntaxError {
    #[error("empty health check; write tcp:PORT, http:PORT/path or none")]
    Empty,
    #[error("unknown probe {0:?}; write tcp:PORT, http:PORT/path or none")]
    UnknownProbe(String),
    #[error("port {0:?} is not a port number (1-65535)")]
    BadPort(String),
    #[error("port {0} is not one of the component's containerPorts {1:?}")]
    PortNotDeclared(u16, Vec<u16>),
    #[error("http path {0:?} must start with / and contain no spaces")]
    BadPath(String),
    #[error("option {0:?} is not name=value (period, timeout, failures, grace, restarts)")]
    BadOption(String),
    #[error("unknown option {0:?} (period, timeout, failures, grace, restarts)")]
    UnknownOption(String),
    #[error("option {0} given twice")]
    Repeated(String),
    #[error("{name}={value}: {why}")]
    BadValue {
        name: &'static str,
        value: String,
        why: String,
    },
}

/// Parses the value of a `FLUXNODE_HEALTHCHECK` entry (what follows the `=`).
pub fn parse(value: &str) -> Result<HealthCheck, HealthSyntaxError> {
    let mut words = value.split_whitespace();
    let head = words.next().ok_or(HealthSyntaxError::Empty)?;
    let probe = parse_probe(head)?;
    let mut check = HealthCheck::with_probe(probe);
    let mut seen: Vec<&str> = Vec::new();
    for w in words {
        let (name, v) = w
            .split_once('=')
            .ok_or_else(|| HealthSyntaxError::BadOption(w.to_owned()))?;
        if seen.contains(&name) {
            return Err(HealthSyntaxError::Repeated(name.to_owned()));
        }
        seen.push(name);
        match name {
            "period" => {
                check.period_ms = duration("period", v, PERIOD_RANGE.0, PERIOD_RANGE.1)?;
            }
            "timeout" => check.timeout_ms = duration("timeout", v, 100, PERIOD_RANGE.1)?,
            "grace" => check.grace_ms = duration("grace", v, 0, GRACE_MAX)?,
            "failures" => check.failures = count("failures", v, 1, FAILURES_MAX)?,
            "restarts" => check.restarts = count("restarts", v, 0, RESTARTS_MAX)?,
            _ => return Err(HealthSyntaxError::UnknownOption(name.to_owned())),
        }
    }
    if check.timeout_ms > check.period_ms {
        return Err(HealthSyntaxError::BadValue {
            name: "timeout",
            value: format!("{}ms", check.timeout_ms),
            why: format!("longer than the period ({} ms)", check.period_ms),
        });
    }
    Ok(check)
}

fn parse_probe(head: &str) -> Result<Probe, HealthSyntaxError> {
    if head == "none" {
        return Ok(Probe::None);
    }
    let (kind, rest) = head
        .split_once(':')
        .ok_or_else(|| HealthSyntaxError::UnknownProbe(head.to_owned()))?;
    match kind {
        "tcp" => Ok(Probe::Tcp { port: port(rest)? }),
        "http" => {
            let (p, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if path.chars().any(|c| c.is_control() || c == ' ') {
                return Err(HealthSyntaxError::BadPath(path.to_owned()));
            }
            Ok(Probe::Http {
                port: port(p)?,
                path: path.to_owned(),
            })
        }
        _ => Err(HealthSyntaxError::UnknownProbe(head.to_owned())),
    }
}

fn port(s: &str) -> Result<u16, HealthSyntaxError> {
    s.parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| HealthSyntaxError::BadPort(s.to_owned()))
}

fn duration(name: &'static str, v: &str, min: u64, max: u64) -> Result<u64, HealthSyntaxError> {
    let bad = |why: String| HealthSyntaxError::BadValue {
        name,
        value: v.to_owned(),
        why,
    };
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| bad("a duration is a whole number of ms, s or m (5s)".into()))?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1_000),
        "m" => n.saturating_mul(60_000),
        _ => return Err(bad("the unit must be ms, s or m".into())),
    };
    if !(min..=max).contains(&ms) {
        return Err(bad(format!("must be between {min} ms and {max} ms")));
    }
    Ok(ms)
}

fn count(name: &'static str, v: &str, min: u32, max: u32) -> Result<u32, HealthSyntaxError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| HealthSyntaxError::BadValue {
            name,
            value: v.to_owned(),
            why: format!("must be a whole number from {min} to {max}"),
        })
}

/// The component's declared check: the index of its `FLUXNODE_HEALTHCHECK` entry in
/// `env` and the parsed check, checked against the component's container ports. `None`
/// when the component declares none.
pub fn declared(
    env: &[String],
    container_ports: &[u16],
) -> Option<(usize, Result<HealthCheck, HealthSyntaxError>)> {
    env.iter().enumerate().find_map(|(i, e)| {
        let (k, v) = e.split_once('=')?;
        (k == ENV_KEY).then(|| (i, parse_declared(v, container_ports)))
    })
}

fn parse_declared(v: &str, container_ports: &[u16]) -> Result<HealthCheck, HealthSyntaxError> {
    let check = parse(v)?;
    match check.probe {
        Probe::Tcp { port } | Probe::Http { port, .. }
            if !container_ports.is_empty() && !container_ports.contains(&port) =>
        {
            Err(HealthSyntaxError::PortNotDeclared(
                port,
                container_ports.to_vec(),
            ))
        }
        _ => Ok(check),
    }
}

/// An instance's health as the network sees it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Just started: inside the grace, or no probe has passed yet.
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn valid_forms() {
        assert_eq!(parse("tcp:8080").unwrap().probe, Probe::Tcp { port: 8080 });
        let c = parse("http:80/healthz period=2s timeout=500ms failures=2 grace=0s restarts=1")
            .unwrap();
        assert_eq!(
            c.probe,
            Probe::Http {
                port: 80,
                path: "/healthz".into()
            }
        );
        assert_eq!(
            (
                c.period_ms,
                c.timeout_ms,
                c.failures,
                c.grace_ms,
                c.restarts
            ),
            (2_000, 500, 2, 0, 1)
        );
        assert_eq!(
            parse("http:80").unwrap().probe,
            Probe::Http {
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(parse("none").unwrap().probe, Probe::None);
        assert_eq!(parse(" tcp:1  period=1m ").unwrap().period_ms, 60_000);
    }

    #[test]
    fn malformed_forms() {
        for bad in [
            "",
            "udp:53",
            "tcp:0",
            "tcp:70000",
            "tcp:",
            "http:x/",
            "tcp:80 period",
            "tcp:80 period=5",
            "tcp:80 period=0s",
            "tcp:80 colour=red",
            "tcp:80 failures=0",
            "tcp:80 restarts=99",
            "tcp:80 period=2s period=3s",
            "tcp:80 period=2s timeout=3s",
            "http",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn declared_entry_and_ports() {
        let env = vec!["A=1".to_owned(), "FLUXNODE_HEALTHCHECK=tcp:81".to_owned()];
        let (i, r) = declared(&env, &[80]).unwrap();
        assert_eq!(i, 1);
        assert!(matches!(r, Err(HealthSyntaxError::PortNotDeclared(81, _))));
        assert!(declared(&env, &[81]).unwrap().1.is_ok());
        assert!(declared(&env[..1], &[80]).is_none());
    }
}
