//! Health probes of this node's running instances, from the host side (like the kubelet),
//! so they work with any image, FROM-scratch ones included.
//!
//! One task per running instance probes each component every period:
//! - the owner's declared check (`FLUXNODE_HEALTHCHECK`, see [`proto::health`]) when the
//!   component has one: HTTP GET or TCP connect to the container's address on its app
//!   network, or `none`;
//! - else the image's own Docker `HEALTHCHECK` status, when the image has one;
//! - else a TCP connect to each of the component's container ports (none: healthy while
//!   it runs).
//!
//! The verdicts go through [`state::ProbeTracker`]; a restart is done here, and a change of
//! the instance's health or a give-up goes to the service task as a [`ProbeEvent`], which
//! turns it into protocol input. A probe that cannot judge (the engine does not answer
//! within [`INSPECT_TIMEOUT`], the container is down and the supervisor owns it) changes
//! nothing: a hung engine never makes instances look unhealthy.

pub mod state;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use proto::health::{Health, HealthCheck, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::runtime::Runtime;
use crate::runtime::probe::{DockerHealth, ProbeTarget};
use state::{Action, ProbeTracker, Verdict};

/// Bound on one container inspection: a healthy engine answers in milliseconds.
pub const INSPECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Bound on restarting an unhealthy component (Docker's stop grace of 2 s, then a start).
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(30);

/// What a probe task tells the service task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeEvent {
    Health { app: Arc<str>, health: Health },
    GiveUp { app: Arc<str>, reason: String },
}

/// How one component is judged.
#[derive(Debug, Clone)]
enum Method {
    Declared(HealthCheck),
    /// The image's Docker `HEALTHCHECK` if it has one, else TCP to every container port.
    Default,
}

/// Starts the probe task of `app` (which must be managed by `rt`).
pub fn spawn(
    app: Arc<str>,
    rt: Runtime,
    tx: mpsc::UnboundedSender<ProbeEvent>,
    failures: Counter,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(app, rt, tx, failures))
}

async fn run(app: Arc<str>, rt: Runtime, tx: mpsc::UnboundedSender<ProbeEvent>, failures: Counter) {
    let Some(targets) = rt.probe_targets(&app) else {
        return;
    };
    let base = tokio::time::Instant::now();
    let now_ms = || u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut parts: Vec<(ProbeTarget, Method, ProbeTracker)> = targets
        .into_iter()
        .map(|t| {
            let method = match proto::health::declared(&t.env, &t.container_ports) {
                Some((_, Ok(check))) => Method::Declared(check),
                // Refused by `spec validate` and at registration; defaults if one slips by.
                _ => Method::Default,
            };
            let check = match &method {
                Method::Declared(c) => c.clone(),
                Method::Default => HealthCheck::with_probe(Probe::None),
            };
            let tracker = ProbeTracker::new(check, 0);
            (t, method, tracker)
        })
        .collect();
    let period = parts
        .iter()
        .map(|(_, _, t)| t.check.period_ms)
        .min()
        .unwrap_or(proto::health::DEFAULT_PERIOD_MS);
    let mut interval = tokio::time::interval(Duration::from_millis(period));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let backoff = rt.config().backoff.clone();
    let mut reported: Option<Health> = None;
    loop {
        interval.tick().await;
        for (target, method, tracker) in &mut parts {
            let verdict = probe(&rt, &app, target, method, &tracker.check).await;
            if let Verdict::Fail(why) = &verdict {
                failures.inc();
                tracing::debug!(%app, component = target.component, %why, "health probe failed");
            }
            match tracker.on_probe(verdict, now_ms(), &backoff) {
                None => {}
                Some(Action::Restart) => {
                    tracing::warn!(%app, component = target.component, restarts = tracker.restarts(), "unhealthy; restarting the component");
                    if let Err(e) = rt
                        .restart_component(&app, &target.component, RESTART_TIMEOUT)
                        .await
                    {
                        let _ = tx.send(ProbeEvent::GiveUp {
                            app: app.clone(),
                            reason: format!(
                                "restarting unhealthy {} failed: {e}",
                                target.component
                            ),
                        });
                        return;
                    }
                }
                Some(Action::GiveUp { reason }) => {
                    let _ = tx.send(ProbeEvent::GiveUp {
                        app: app.clone(),
                        reason: format!("{}: {reason}", target.component),
                    });
                    return;
                }
            }
        }
        let health = state::combine(parts.iter().map(|(_, _, t)| t.health));
        if reported != Some(health) {
            reported = Some(health);
            if tx
                .send(ProbeEvent::Health {
                    app: app.clone(),
                    health,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

async fn probe(
    rt: &Runtime,
    app: &str,
    target: &ProbeTarget,
    method: &Method,
    check: &HealthCheck,
) -> Verdict {
    let Ok(st) = rt
        .probe_state(app, &target.container, INSPECT_TIMEOUT)
        .await
    else {
        return Verdict::Unknown;
    };
    if !st.running {
        return Verdict::Unknown;
    }
    let timeout = Duration::from_millis(check.timeout_ms);
    match method {
        Method::Declared(c) => match (&c.probe, st.ip) {
            (Probe::None, _) => Verdict::Pass,
            (_, None) => Verdict::Unknown,
            (Probe::Tcp { port }, Some(ip)) => tcp(ip, *port, timeout).await,
            (Probe::Http { port, path }, Some(ip)) => http(ip, *port, path, timeout).await,
        },
        Method::Default => match (st.docker_health, st.ip) {
            (Some(DockerHealth::Healthy), _) => Verdict::Pass,
            (Some(DockerHealth::Unhealthy), _) => {
                Verdict::Fail("the image's HEALTHCHECK reports unhealthy".into())
            }
            (Some(DockerHealth::Starting), _) => Verdict::Unknown,
            (None, _) if target.container_ports.is_empty() => Verdict::Pass,
            (None, None) => Verdict::Unknown,
            (None, Some(ip)) => {
                for &port in &target.container_ports {
                    let v = tcp(ip, port, timeout).await;
                    if v != Verdict::Pass {
                        return v;
                    }
                }
                Verdict::Pass
            }
        },
    }
}

async fn tcp(ip: IpAddr, port: u16, timeout: Duration) -> Verdict {
    match tokio::time::timeout(timeout, TcpStream::connect(SocketAddr::new(ip, port))).await {
        Ok(Ok(_)) => Verdict::Pass,
        Ok(Err(e)) => Verdict::Fail(format!("tcp {ip}:{port}: {e}")),
        Err(_) => Verdict::Fail(format!("tcp {ip}:{port}: no answer within {timeout:?}")),
    }
}

/// HTTP/1.0 GET; 2xx and 3xx pass.
async fn http(ip: IpAddr, port: u16, path: &str, timeout: Duration) -> Verdict {
    let addr = SocketAddr::new(ip, port);
    let exchange = async {
        let mut s = TcpStream::connect(addr).await?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: fluxnode-probe\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let k = s.read(&mut buf[n..]).await?;
            if k == 0 {
                break;
            }
            n += k;
        }
        Ok::<String, std::io::Error>(String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Verdict::Fail(format!(
            "GET http://{addr}{path}: no answer within {timeout:?}"
        )),
        Ok(Err(e)) => Verdict::Fail(format!("GET http://{addr}{path}: {e}")),
        Ok(Ok(head)) => match status_code(&head) {
            Some(c) if (200..400).contains(&c) => Verdict::Pass,
            Some(c) => Verdict::Fail(format!("GET http://{addr}{path}: HTTP {c}")),
            None => Verdict::Fail(format!("GET http://{addr}{path}: not an HTTP answer")),
        },
    }
}

fn status_code(head: &str) -> Option<u16> {
    let mut parts = head.split_whitespace();
    let proto = parts.next()?;
    if !proto.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_code("HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_code("HTTP/1.1 404 Not Found"), Some(404));
        assert_eq!(status_code("SSH-2.0-OpenSSH"), None);
        assert_eq!(status_code(""), None);
    }

    #[tokio::test]
    async fn http_and_tcp_probes_against_a_local_server() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let code = if req.starts_with("GET /ok ") {
                    200
                } else {
                    503
                };
                let _ = s
                    .write_all(format!("HTTP/1.0 {code} X\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t = Duration::from_secs(2);
        assert_eq!(http(ip, port, "/ok", t).await, Verdict::Pass);
        assert!(matches!(http(ip, port, "/bad", t).await, Verdict::Fail(m) if m.contains("503")));
        assert_eq!(tcp(ip, port, t).await, Verdict::Pass);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(matches!(tcp(ip, dead, t).await, Verdict::Fail(_)));
    }
}
