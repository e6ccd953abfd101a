//! The HAProxy configuration text for a plan and its slots.
//!
//! Backends follow Flux's FDM: round robin, `option redispatch`, `retries 3`, a TCP check
//! `inter 3s fall 2 rise 2`, and with 2+ servers the cookie `FDMSERVERID` for 8 h. HTTP
//! backends also retry a request that met a dead instance (`retry-on conn-failure
//! empty-response response-timeout`), so a replacement under way costs no failed request.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::plan::{BackendPlan, Mode, Plan};
use super::slots::Slots;

/// Where HAProxy listens and where its runtime socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    /// The shared HTTP listener (`<app>.<domain>` by `Host`).
    pub http: SocketAddr,
    /// HAProxy's own Prometheus exporter and stats page (`/metrics`, `/stats`).
    pub stats: Option<SocketAddr>,
    /// The admin socket for the runtime API.
    pub admin_socket: PathBuf,
}

/// Timeouts. `server` is also what `retry-on response-timeout` waits for: 30 s is long
/// for a request yet short enough that a hung instance is retried elsewhere.
const TIMEOUTS: &str = "    timeout connect 3s\n    timeout client 60s\n    timeout server 30s\n    \
                        timeout http-request 10s\n    timeout queue 10s\n    timeout tunnel 1h\n";

/// The configuration text. `slots(backend)` gives each backend's current slot contents.
pub fn render(plan: &Plan, listen: &Listeners, slots: impl Fn(&str) -> Slots) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Written by `fluxnode ingress`; changes here are overwritten."
    );
    c.push_str("global\n");
    let _ = writeln!(
        c,
        "    stats socket {} mode 600 level admin expose-fd listeners",
        listen.admin_socket.display()
    );
    // Old workers finishing long connections after a reload must not pile up forever.
    c.push_str("    hard-stop-after 10m\n");
    c.push_str("\ndefaults\n    mode http\n    option dontlognull\n");
    c.push_str(TIMEOUTS);
    if let Some(stats) = listen.stats {
        let _ = write!(
            c,
            "\nfrontend stats\n    bind {stats}\n    mode http\n    \
             http-request use-service prometheus-exporter if {{ path /metrics }}\n    \
             stats enable\n    stats uri /stats\n    stats refresh 5s\n"
        );
    }
    let _ = write!(
        c,
        "\nfrontend http_in\n    bind {}\n    mode http\n    option forwardfor\n",
        listen.http
    );
    for b in plan.backends.values().filter(|b| b.mode == Mode::Http) {
        let _ = writeln!(
            c,
            "    use_backend {} if {{ req.hdr(host),lower,word(1,:) -m str {} }}",
            b.name,
            b.hosts.join(" ")
        );
    }
    c.push_str("    default_backend no_app\n");
    c.push_str(
        "\nbackend no_app\n    mode http\n    http-request return status 404 content-type \
         text/plain string \"no app by this name behind this ingress\\n\"\n",
    );
    for b in plan.backends.values() {
        if b.mode == Mode::Tcp {
            let _ = write!(
                c,
                "\nfrontend tcp_{}\n    bind {}:{}\n    mode tcp\n    default_backend {}\n",
                b.port,
                listen.http.ip(),
                b.port,
                b.name
            );
        }
        backend(&mut c, b, &slots(&b.name));
    }
    c
}

fn backend(c: &mut String, b: &BackendPlan, slots: &Slots) {
    let mode = match b.mode {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
    };
    let _ = write!(
        c,
        "\nbackend {}\n    mode {mode}\n    balance roundrobin\n    option redispatch\n    retries 3\n",
        b.name
    );
    if b.mode == Mode::Http {
        c.push_str("    retry-on conn-failure empty-response response-timeout\n");
        if b.sticky() {
            c.push_str("    cookie FDMSERVERID insert indirect nocache maxlife 8h\n");
        }
    }
    c.push_str("    default-server check inter 3s fall 2 rise 2\n");
    let cookie = b.mode == Mode::Http && b.sticky();
    for slot in 0..b.slots() {
        let n = slot + 1;
        let _ = write!(c, "    server s{n} ");
        match slots.get(slot).cloned().flatten() {
            Some(addr) => {
                let _ = write!(c, "{addr}");
            }
            // An empty slot: in maintenance until the runtime API gives it an address.
            None => {
                let _ = write!(c, "127.0.0.1:{} disabled", b.port);
            }
        }
        if cookie {
            let _ = write!(c, " cookie s{n}");
        }
        c.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::watch::{AppLocations, LocationsSnapshot, WatchedInstance};
    use std::collections::BTreeSet;

    #[test]
    fn renders_fdm_backends() {
        let inst = |ip: &str| WatchedInstance {
            node: ip.into(),
            ip: ip.into(),
            extra: Default::default(),
        };
        let snap = LocationsSnapshot {
            apps: vec![AppLocations {
                name: "demo".into(),
                ports: vec![31000],
                instances: vec![inst("10.0.0.1"), inst("10.0.0.2")],
            }],
        };
        let plan = super::super::plan::plan(&snap, "app.localtest", &BTreeSet::new());
        let listen = Listeners {
            http: "127.0.0.1:8080".parse().unwrap(),
            stats: Some("127.0.0.1:8404".parse().unwrap()),
            admin_socket: "/run/x/admin.sock".into(),
        };
        let text = render(&plan, &listen, |_| {
            vec![Some("10.0.0.1:31000".into()), Some("10.0.0.2:31000".into())]
        });
        for line in [
            "use_backend app_demo_31000 if { req.hdr(host),lower,word(1,:) -m str demo.app.localtest demo_31000.app.localtest }",
            "cookie FDMSERVERID insert indirect nocache maxlife 8h",
            "retry-on conn-failure empty-response response-timeout",
            "default-server check inter 3s fall 2 rise 2",
            "server s1 10.0.0.1:31000 cookie s1",
            "server s3 127.0.0.1:31000 disabled cookie s3",
            "prometheus-exporter",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
