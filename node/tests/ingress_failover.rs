//! The ingress's HAProxy configuration with the real HAProxy (Debian's `haproxy`): an app
//! instance killed under steady traffic costs no failed request (retries go to another
//! instance, live traffic marks it down), and a client holding the `FDMSERVERID` cookie
//! stays on its instance while that lives and moves once when it dies.
//!
//! The configuration is the one `fluxnode ingress` writes (plan + render) for three
//! instances: tiny HTTP servers on 127.0.0.146–148 that answer after 20 ms, so requests
//! are in flight when one of them is killed (its listener and open connections dropped
//! at once, as a SIGKILL does). Addresses: 127.0.0.146–149 (this range 140..159).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluxnode::api::watch::{AppLocations, LocationsSnapshot, WatchedInstance};
use fluxnode::ingress::haproxy::{self, Haproxy};
use fluxnode::ingress::{plan, render};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const APP_PORT: u16 = 31542;
const HTTP: &str = "127.0.0.149:18080";
const HOST: &str = "demo.app.localtest";
const INSTANCES: [&str; 3] = ["127.0.0.146", "127.0.0.147", "127.0.0.148"];

/// An instance answering `hello from <ip>` after 20 ms. Dropping the returned set kills
/// it: the listener closes and every open connection is reset.
async fn instance(ip: &'static str) -> JoinSet<()> {
    let listener = TcpListener::bind((ip, APP_PORT)).await.unwrap();
    let conns = Arc::new(Mutex::new(JoinSet::new()));
    let mut set = JoinSet::new();
    let held = conns.clone();
    set.spawn(async move {
        // Keeps the connections' set alive as long as this task: aborted with it.
        let _held = held;
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            conns.lock().unwrap().spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                let body = format!("hello from {ip}");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    set
}

/// One request through HAProxy; `(status line, Set-Cookie FDMSERVERID=…, body)`, or an
/// error text when no answer came.
async fn get(cookie: Option<&str>) -> Result<(String, Option<String>, String), String> {
    let mut s = TcpStream::connect(HTTP).await.map_err(|e| e.to_string())?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let req = format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n{cookie}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .map_err(|_| "timeout".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = out.lines().next().unwrap_or_default().to_owned();
    let set_cookie = out.lines().find_map(|l| {
        let l = l.strip_prefix("set-cookie: ")?;
        Some(l.split(';').next()?.to_owned())
    });
    let body = out.rsplit("\r\n\r\n").next().unwrap_or_default().to_owned();
    Ok((status, set_cookie, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs HAProxy (scripts/test.sh runs it)"]
async fn a_killed_instance_costs_no_failed_request_and_the_cookie_moves_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut alive = Vec::new();
    for ip in INSTANCES {
        alive.push(Some(instance(ip).await));
    }
    let snap = LocationsSnapshot {
        apps: vec![AppLocations {
            name: "demo".into(),
            ports: vec![APP_PORT],
            instances: INSTANCES
                .iter()
                .map(|ip| WatchedInstance {
                    node: format!("n-{ip}"),
                    ip: (*ip).into(),
                    extra: Default::default(),
                })
                .collect(),
        }],
    };
    let paths = haproxy::Paths {
        bin: "haproxy".into(),
        dir: tmp.path().to_owned(),
    };
    let plan = plan::plan(&snap, "app.localtest", &Default::default());
    let listen = render::Listeners {
        http: HTTP.parse().unwrap(),
        stats: None,
        admin_socket: paths.admin_socket(),
    };
    let backend = &plan.backends[&format!("app_demo_{APP_PORT}")];
    let servers = backend.servers.clone();
    let slots = backend.slots();
    let text = render::render(&plan, &listen, |_| {
        let mut s: Vec<Option<String>> = servers.iter().cloned().map(Some).collect();
        s.resize(slots, None);
        s
    });
    let h = Haproxy::start(paths, &text).await.unwrap();

    // The cookie client's instance, from its first answer.
    let (status, cookie, body) = get(None).await.unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let cookie = cookie.expect("FDMSERVERID with 3 instances");
    assert!(cookie.starts_with("FDMSERVERID="), "{cookie}");
    let pinned = body.trim_start_matches("hello from ").to_owned();
    let victim = INSTANCES.iter().position(|ip| *ip == pinned).unwrap();

    // Two clients at 40 requests/s each for 3 s: one without cookie (round robin, its
    // requests overlap), one keeping its cookie and sending one request at a time (as a
    // browser tab does). The pinned instance is killed after 1 s.
    let failed = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let every = Duration::from_millis(25);
    let (f, fs) = (failed.clone(), failures.clone());
    let sticky = tokio::spawn(async move {
        let mut jar = cookie;
        let mut seen = Vec::<(Duration, String)>::new();
        for i in 0..120u32 {
            if let Some(wait) = (every * i).checked_sub(t0.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            match get(Some(&jar)).await {
                Ok((s, set, body)) if s.contains(" 200 ") => {
                    if let Some(c) = set {
                        jar = c;
                    }
                    let ip = body.trim_start_matches("hello from ").to_owned();
                    seen.push((t0.elapsed(), ip));
                }
                other => {
                    f.fetch_add(1, Ordering::Relaxed);
                    fs.lock().unwrap().push(format!("cookie: {other:?}"));
                }
            }
        }
        seen
    });
    let mut requests = JoinSet::new();
    let mut killed_at = None;
    for i in 0..120u32 {
        if let Some(wait) = (every * i).checked_sub(t0.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        if killed_at.is_none() && t0.elapsed() >= Duration::from_secs(1) {
            alive[victim] = None;
            killed_at = Some(t0.elapsed());
        }
        let (failed, failures) = (failed.clone(), failures.clone());
        requests.spawn(async move {
            match get(None).await {
                Ok((s, _, _)) if s.contains(" 200 ") => {}
                other => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    failures.lock().unwrap().push(format!("plain: {other:?}"));
                }
            }
        });
    }
    while requests.join_next().await.is_some() {}
    let seen = sticky.await.unwrap();
    let killed_at = killed_at.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests across the kill: {:?}",
        failures.lock().unwrap()
    );

    // The cookie client: on its instance until the kill, then on one other instance.
    let switches: Vec<&(Duration, String)> = seen
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .map(|w| &w[1])
        .collect();
    assert_eq!(seen[0].1, pinned);
    assert_eq!(
        switches.len(),
        1,
        "the cookie client should move exactly once: {seen:?}"
    );
    assert!(
        switches[0].0 >= killed_at,
        "moved before the kill: {seen:?}"
    );
    assert_ne!(switches[0].1, pinned);
    eprintln!(
        "killed {pinned} at {killed_at:?}: 0 of 240 requests failed; cookie client moved to {} ({:?} after the kill)",
        switches[0].1,
        switches[0].0 - killed_at
    );
    drop(alive);
    h.stop().await;
}
