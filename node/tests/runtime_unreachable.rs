//! The engine going away: typed errors, no panic, and recovery without a new runtime.
//!
//! The runtime talks to a unix socket proxy this test controls, in front of the real
//! engine: no socket file is "socket path wrong", a stopped proxy is "engine down".

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use fluxnode::runtime::{AppPlan, ErrorKind, Runtime, RuntimeError};
use fluxnode::store::Store;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

const ENGINE: &str = "/var/run/docker.sock";

/// Forwards every connection on `path` to the real engine until aborted.
fn start_proxy(path: &Path) -> JoinHandle<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            conns.spawn(async move {
                if let Ok(mut outbound) = UnixStream::connect(ENGINE).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
        // Dropping the JoinSet on abort closes every proxied connection too.
    })
}

async fn stop_proxy(task: JoinHandle<()>, path: &Path) {
    task.abort();
    let _ = task.await;
    std::fs::remove_file(path).unwrap();
}

fn assert_unreachable(err: RuntimeError, path: &Path) {
    assert!(
        matches!(err, RuntimeError::DaemonUnreachable { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn engine_down_then_back_without_restart() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let socket: PathBuf = dir.path().join("engine.sock");
    let mut cfg = config(&node);
    cfg.docker_socket = socket.display().to_string();
    cfg.request_timeout_s = 5;
    let rt = Runtime::new(cfg, Store::open(dir.path().join("state")).unwrap());
    let image = push_unique_image();
    let plan = AppPlan {
        app: unique("app"),
        spec_hash: "h".into(),
        components: vec![component("main", &image, &["sleep", "3600"])],
    };

    // Wrong path: nothing listens there.
    assert_unreachable(rt.ping().await.unwrap_err(), &socket);
    assert_unreachable(rt.start_app(plan.clone()).await.unwrap_err(), &socket);
    assert_unreachable(rt.adopt().await.unwrap_err(), &socket);
    assert!(rt.managed_apps().is_empty());

    // The engine appears: the same runtime works.
    let proxy = start_proxy(&socket);
    rt.ping().await.unwrap();
    let rep = rt.start_app(plan.clone()).await.unwrap();
    let id = rep.containers[0].id.clone();

    // The engine goes away while an app runs: typed errors, the app stays managed.
    stop_proxy(proxy, &socket).await;
    assert_unreachable(rt.supervise_once().await.unwrap_err(), &socket);
    assert_unreachable(rt.ping().await.unwrap_err(), &socket);
    // A socket that exists but refuses connections (a stale file after dockerd died).
    let stale = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(stale);
    assert_unreachable(rt.ping().await.unwrap_err(), &socket);
    std::fs::remove_file(&socket).unwrap();
    assert_eq!(rt.managed_apps(), vec![plan.app.clone()]);

    // Back again: supervision resumes, nothing was restarted or recreated.
    let proxy = start_proxy(&socket);
    tokio::time::timeout(Duration::from_secs(30), async {
        while rt.ping().await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    let sup = rt.supervise_once().await.unwrap();
    assert_eq!((sup.checked, sup.restarted.len()), (1, 0));
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.Id}}", &rep.containers[0].name]),
        id
    );

    let c = rt.counters();
    assert!(c.errors_of(ErrorKind::DaemonUnreachable) >= 6, "{c:?}");
    rt.remove_app(&plan.app).await.unwrap();
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
    stop_proxy(proxy, &socket).await;
}
