//! `fluxnode ingress` with the real HAProxy (Debian's `haproxy`): location changes served
//! by the node API's long poll reach HAProxy's live server list within 2 s, a request in
//! flight survives the reload a structural change needs, and a configuration `haproxy -c`
//! refuses never replaces the running one.
//!
//! The node API here is the real router and long poll over a small in-memory backend whose
//! locations the test moves; the app instances are tiny HTTP servers on 127.0.0.142–144.
//! Addresses: 127.0.0.141–144 (this test range 140..159).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluxnode::api::{
    ApiError, AppStatus, Backend, CapacityStatus, InstanceLocation, NodeStatus, PeerStatus,
    ReadyStatus,
};
use fluxnode::ingress::haproxy::{self, Haproxy, parse_servers_state, socket_command};
use fluxnode::ingress::metrics::IngressMetrics;
use fluxnode::ingress::render::Listeners;
use fluxnode::ingress::{IngressConfig, IngressError};
use proto::message::{AppCancel, AppRegistration, AppRenewal, OwnerSigned};
use proto::tier::Resources;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const APP_PORT: u16 = 31541;
const API: &str = "127.0.0.141:16127";
const HTTP: &str = "127.0.0.141:18080";
const HOST: &str = "demo.app.localtest";

/// Apps and where each runs, moved by the test.
#[derive(Debug, Clone, Default)]
struct Locations(Arc<Mutex<BTreeMap<String, Vec<String>>>>);

impl Locations {
    fn set(&self, app: &str, ips: &[&str]) {
        self.0
            .lock()
            .unwrap()
            .insert(app.to_owned(), ips.iter().map(|s| s.to_string()).collect());
    }
}

fn unsupported() -> ApiError {
    ApiError::Internal {
        message: "not used by this test".into(),
    }
}

impl Backend for Locations {
    async fn node(&self) -> Result<NodeStatus, ApiError> {
        let total = Resources::new(2.0, 4_000, 100);
        Ok(NodeStatus {
            id: "n".into(),
            version: "test".into(),
            tier: "cumulus".into(),
            geo: "EU_DE_HE".into(),
            advertise_addr: "127.0.0.141".into(),
            height: 1,
            uptime_secs: 1,
            capacity: CapacityStatus {
                total,
                used: total,
                reserved: total,
                free: total,
            },
            benchmark: None,
            peers: 0,
            ledger: Default::default(),
            hosted: vec![],
        })
    }
    async fn ready(&self) -> ReadyStatus {
        ReadyStatus {
            ready: true,
            checks: vec![],
        }
    }
    async fn peers(&self) -> Result<Vec<PeerStatus>, ApiError> {
        Ok(vec![])
    }
    async fn apps(&self) -> Result<Vec<AppStatus>, ApiError> {
        let names: Vec<String> = self.0.lock().unwrap().keys().cloned().collect();
        Ok(names
            .into_iter()
            .map(|name| AppStatus {
                spec: serde_json::json!({"name": name, "compose": [{"name": "web", "ports": [APP_PORT]}]}),
                healthy: 0,
                instance_health: Vec::new(),
                version: 1,
                target_version: 1,
                rollout: None,
                name,
                owner: "o".into(),
                instances: 3,
                running: 0,
                registered_height: 1,
                expire_blocks: 1_000,
                expires_at_height: 1_001,
                removal_height: 3_641,
                cancelled: false,
                hosts: vec![],
            })
            .collect())
    }
    async fn app(&self, _name: String) -> Result<AppStatus, ApiError> {
        Err(unsupported())
    }
    async fn register(&self, _r: OwnerSigned<AppRegistration>) -> Result<AppStatus, ApiError> {
        Err(unsupported())
    }
    async fn renew(&self, _n: String, _r: OwnerSigned<AppRenewal>) -> Result<AppStatus, ApiError> {
        Err(unsupported())
    }
    async fn cancel(&self, _n: String, _c: OwnerSigned<AppCancel>) -> Result<(), ApiError> {
        Err(unsupported())
    }
    async fn locations(&self, name: String) -> Result<Vec<InstanceLocation>, ApiError> {
        let ips = self
            .0
            .lock()
            .unwrap()
            .get(&name)
            .cloned()
            .unwrap_or_default();
        Ok(ips
            .into_iter()
            .map(|ip| InstanceLocation {
                node: format!("node-{ip}"),
                addresses: vec![format!("{ip}:{APP_PORT}")],
                ip,
                ports: vec![APP_PORT],
                reported_at_ms: 0,
                host_uptime_secs: 0,
                health: proto::health::Health::Healthy,
            })
            .collect())
    }
    async fn explain(&self, _n: String) -> Result<serde_json::Value, ApiError> {
        Err(unsupported())
    }
    async fn metrics(&self) -> String {
        String::new()
    }
}

/// An app instance: answers `hello from <ip>`; `/slow` sends its 30-byte body over 3 s.
async fn instance(ip: &'static str) {
    let listener = TcpListener::bind((ip, APP_PORT)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                if req.starts_with("GET /slow") {
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    for _ in 0..3 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let _ = s.write_all(b"0123456789").await;
                    }
                } else {
                    let body = format!("hello from {ip}");
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(body.as_bytes()).await;
                }
            });
        }
    });
}

/// One request through HAProxy with `Host`; the whole answer (head and body).
async fn get(path: &str, host: &str, cookie: Option<&str>) -> String {
    let mut s = TcpStream::connect(HTTP).await.unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

/// Serving addresses in HAProxy's live server list of `backend`.
async fn live(admin: &std::path::Path, backend: &str) -> Vec<String> {
    let text = socket_command(admin, &format!("show servers state {backend}"))
        .await
        .unwrap_or_default();
    let mut v: Vec<String> = parse_servers_state(&text)
        .into_iter()
        .filter(|(_, _, serving)| *serving)
        .map(|(_, addr, _)| addr)
        .collect();
    v.sort();
    v
}

/// Waits until the live list of `backend` is `want`; the time it took.
async fn until_live(admin: &std::path::Path, backend: &str, want: &[&str]) -> Duration {
    let t0 = Instant::now();
    let want: Vec<String> = want.iter().map(|ip| format!("{ip}:{APP_PORT}")).collect();
    loop {
        if live(admin, backend).await == want {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "HAProxy's servers of {backend} never became {want:?}: {:?}",
            live(admin, backend).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs HAProxy (scripts/test.sh runs it)"]
async fn location_changes_reach_haproxy_within_2s_and_connections_survive_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    let locations = Locations::default();
    locations.set("demo", &["127.0.0.142"]);
    for ip in ["127.0.0.142", "127.0.0.143", "127.0.0.144"] {
        instance(ip).await;
    }
    let api = TcpListener::bind(API).await.unwrap();
    let router = fluxnode::api::router(locations.clone());
    tokio::spawn(async move { axum::serve(api, router).await });

    let paths = haproxy::Paths {
        bin: "haproxy".into(),
        dir: tmp.path().to_owned(),
    };
    let admin = paths.admin_socket();
    let config = IngressConfig {
        api: format!("http://{API}"),
        domain: "app.localtest".into(),
        listen: Listeners {
            http: HTTP.parse().unwrap(),
            stats: None,
            admin_socket: admin.clone(),
        },
        tcp_ports: Default::default(),
        haproxy: paths,
    };
    let metrics = IngressMetrics::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ingress = tokio::spawn(fluxnode::ingress::run(config, metrics.clone(), async {
        let _ = stop_rx.await;
    }));
    let backend = format!("app_demo_{APP_PORT}");
    until_live(&admin, &backend, &["127.0.0.142"]).await;
    let answer = get("/", HOST, None).await;
    assert!(answer.ends_with("hello from 127.0.0.142"), "{answer}");
    assert!(
        !answer.contains("FDMSERVERID"),
        "no cookie with one instance: {answer}"
    );

    // A request in flight while a second instance arrives: 1 → 2 servers turns the sticky
    // cookie on, a structural change, so HAProxy reloads under the open connection.
    let slow = tokio::spawn(get("/slow", HOST, None));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reloads = metrics.reloads.get();
    locations.set("demo", &["127.0.0.142", "127.0.0.143"]);
    let added = until_live(&admin, &backend, &["127.0.0.142", "127.0.0.143"]).await;
    eprintln!("new instance (reload) in HAProxy's live list after {added:?}");
    assert!(added < Duration::from_secs(2), "{added:?}");
    // The new worker answers a moment before the ingress counts the reload.
    let t0 = Instant::now();
    while metrics.reloads.get() == reloads && t0.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        metrics.reloads.get(),
        reloads + 1,
        "the cookie change reloads"
    );
    let slow = slow.await.unwrap();
    assert!(
        slow.starts_with("HTTP/1.1 200") && slow.ends_with("012345678901234567890123456789"),
        "the request in flight across the reload was cut: {slow:?}"
    );

    // A third instance and a removal fit the slots: runtime API, no reload.
    let runtime = metrics.runtime_updates.get();
    locations.set("demo", &["127.0.0.142", "127.0.0.143", "127.0.0.144"]);
    let added = until_live(
        &admin,
        &backend,
        &["127.0.0.142", "127.0.0.143", "127.0.0.144"],
    )
    .await;
    eprintln!("new instance (runtime API) in HAProxy's live list after {added:?}");
    assert!(added < Duration::from_secs(2), "{added:?}");
    locations.set("demo", &["127.0.0.143", "127.0.0.144"]);
    let removed = until_live(&admin, &backend, &["127.0.0.143", "127.0.0.144"]).await;
    eprintln!("removed instance out of HAProxy's live list after {removed:?}");
    assert!(removed < Duration::from_secs(2), "{removed:?}");
    let t0 = Instant::now();
    while metrics.runtime_updates.get() < runtime + 2 && t0.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    while metrics.runtime_updates.get() < runtime + 2 && t0.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metrics.runtime_updates.get(), runtime + 2);
    assert_eq!(
        metrics.reloads.get(),
        reloads + 1,
        "no reload for fitting changes"
    );

    // With two instances the cookie pins a client to one of them.
    let first = get("/", HOST, None).await;
    let cookie = first
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or(l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .expect("a sticky cookie with 2 instances")
        .to_owned();
    assert!(cookie.starts_with("FDMSERVERID="), "{cookie}");
    let pinned = first.rsplit("hello from ").next().unwrap().to_owned();
    for _ in 0..6 {
        let again = get("/", HOST, Some(&cookie)).await;
        assert!(again.ends_with(&format!("hello from {pinned}")), "{again}");
    }
    // Unknown names get the ingress's 404, not some app.
    let unknown = get("/", "nope.app.localtest", None).await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");

    let _ = stop_tx.send(());
    ingress.await.unwrap().unwrap();
    let t0 = Instant::now();
    while socket_command(&admin, "show info").await.is_ok() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "HAProxy outlived the ingress"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A minimal good configuration serving `body` on `listen`.
fn good_config(listen: &str, admin: &std::path::Path, body: &str) -> String {
    format!(
        "global\n    stats socket {} mode 600 level admin expose-fd listeners\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend f\n    bind {listen}\n    http-request return status 200 content-type text/plain string \"{body}\"\n",
        admin.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs HAProxy (scripts/test.sh runs it)"]
async fn a_refused_configuration_never_replaces_the_running_one() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = haproxy::Paths {
        bin: "haproxy".into(),
        dir: tmp.path().to_owned(),
    };
    let listen = "127.0.0.145:18080";
    let good = good_config(listen, &paths.admin_socket(), "first");
    let mut h = Haproxy::start(paths.clone(), &good).await.unwrap();
    let ask = || async {
        let mut s = TcpStream::connect(listen).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    };
    assert!(ask().await.ends_with("first"));

    // A typo HAProxy rejects: an unknown keyword in a backend.
    let broken = format!("{good}backend b\n    balance roundrobbin\n");
    let err = h.replace(&broken).await.unwrap_err();
    let IngressError::Refused { output } = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert!(
        output.contains("balance only supports"),
        "HAProxy's words: {output}"
    );
    assert_eq!(std::fs::read_to_string(paths.config()).unwrap(), good);
    assert!(h.running());
    assert!(
        ask().await.ends_with("first"),
        "the old configuration keeps serving"
    );

    // A good one still goes through afterwards.
    h.replace(&good_config(listen, &paths.admin_socket(), "second"))
        .await
        .unwrap();
    assert!(ask().await.ends_with("second"));
    h.stop().await;
}
