//! The HAProxy configuration text for a plan and its slots.
//!
//! Backends start from Flux's FDM template: round robin, `retries 3`, `option
//! redispatch`, a TCP check with `fall 2 rise 2`, and with 2+ servers the cookie
//! `FDMSERVERID` for 8 h. On top of it, the settings in `RESILIENCE` and
//! `HTTP_RETRIES` make a SIGKILLed instance cost no failed request: the request that
//! meets it is retried on another instance at once, and live traffic takes it out of
//! rotation before the next health check would (each choice is explained there and in
//! the written file).

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

/// Every backend (HTTP and TCP): how a dead instance is noticed and avoided.
const RESILIENCE: &str = "    # A request that cannot reach its server is retried up to 3 times (FDM's `retries 3`).
    retries 3
    # ... each time on another server: `redispatch 1` redispatches on every retry. FDM's
    # plain `option redispatch` (-1) only does so on the last one, after two more tries at
    # the dead instance, each after a turn-around pause of up to 1 s. Redispatch also
    # breaks cookie persistence to a dead server; the answer then sets the new cookie.
    option redispatch 1
    # TCP check every 1 s, 500 ms once a check failed (FDM: inter 3s): a dead instance is
    # out after 2 failed checks (about 1.5 s), back after 2 good ones.
    # `observe layer4 error-limit 1 on-error mark-down`: one failed connection of live
    # traffic marks the server down at once, without waiting for the checks (layer4, not
    # layer7: an app's own 5xx answers must not take its instance out of rotation).
    default-server check inter 1s fastinter 500ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
";

/// TCP backends only: a byte stream cannot be replayed elsewhere, so a session to a dead
/// instance can only end. Not for HTTP: it would also cut the request in flight that
/// `retry-on` is about to replay on another instance (measured: 1 failed request per
/// kill in tests/ingress_failover.rs with it, 0 without).
const TCP_DOWN: &str =
    "    # Close the sessions still open to a server marked down, so clients reconnect (to a
    # live instance) at once instead of hanging on a dead host until a timeout.
    default-server on-marked-down shutdown-sessions
";

/// HTTP backends only: which failed requests are replayed (layer-7 retries).
const HTTP_RETRIES: &str =
    "    # Replay the request on another server when the connection failed, when the server
    # closed it without an answer or with a garbled one (an instance killed mid-request),
    # or did not answer within `timeout server`.
    retry-on conn-failure empty-response junk-response response-timeout
    # ... but never replay a request that may have had its effect already unless it is
    # idempotent: POST and PATCH are retried only on connection failures (nothing sent).
    http-request disable-l7-retry if METH_POST || { method PATCH }
";

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
    // `stats show-legends`: the stats page and its CSV (`/stats;csv`) also show each
    // server's address, so the live server list can be read over HTTP (the stats listener
    // is on loopback by default; instance addresses are public in the locations anyway).
    if let Some(stats) = listen.stats {
        let _ = write!(
            c,
            "\nfrontend stats\n    bind {stats}\n    mode http\n    \
             http-request use-service prometheus-exporter if {{ path /metrics }}\n    \
             stats enable\n    stats uri /stats\n    stats refresh 5s\n    \
             stats show-legends\n"
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
        "\nbackend {}\n    mode {mode}\n    balance roundrobin\n",
        b.name
    );
    c.push_str(RESILIENCE);
    if b.mode == Mode::Tcp {
        c.push_str(TCP_DOWN);
    }
    if b.mode == Mode::Http {
        c.push_str(HTTP_RETRIES);
        if b.sticky() {
            // FDM's: the client sticks to the server of its cookie (`indirect`: the
            // cookie is not passed on to the app; `nocache`: not cached by proxies).
            c.push_str("    cookie FDMSERVERID insert indirect nocache maxlife 8h\n");
        }
    }
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
            "retry-on conn-failure empty-response junk-response response-timeout",
            "option redispatch 1",
            "retries 3",
            "default-server check inter 1s fastinter 500ms fall 2 rise 2 observe layer4",
            "server s1 10.0.0.1:31000 cookie s1",
            "server s3 127.0.0.1:31000 disabled cookie s3",
            "prometheus-exporter",
            "stats show-legends",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        // It would cut the HTTP request in flight that retry-on is about to replay.
        assert!(!text.contains("shutdown-sessions"), "{text}");
    }
}
