//! A Docker engine that hangs never stalls the node (loopback 127.0.0.131–133): node 3
//! talks to Docker through a proxy socket that, when told, accepts and stops answering.
//! While it hangs node 3 keeps beating (its peers keep it as a live host for over 60 s),
//! turns not-ready, places nothing new; when the proxy answers again it recovers by itself.

mod cluster;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cluster::{Cluster, web_spec};

/// A unix socket in front of the real Docker socket. While `hang` is set, bytes are held:
/// new connections are accepted and never answered, open ones stall.
struct HangProxy {
    hang: Arc<AtomicBool>,
}

impl HangProxy {
    fn start(path: &Path) -> HangProxy {
        let listener = UnixListener::bind(path).unwrap();
        let hang = Arc::new(AtomicBool::new(false));
        let h = hang.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { return };
                let Ok(upstream) = UnixStream::connect("/var/run/docker.sock") else {
                    continue;
                };
                pipe(
                    client.try_clone().unwrap(),
                    upstream.try_clone().unwrap(),
                    h.clone(),
                );
                pipe(upstream, client, h.clone());
            }
        });
        HangProxy { hang }
    }

    fn set_hang(&self, on: bool) {
        self.hang.store(on, Ordering::SeqCst);
    }
}

fn pipe(mut from: UnixStream, mut to: UnixStream, hang: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            while hang.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

fn register(c: &Cluster, name: &str, port: u16) {
    c.register(0, &format!("{name}.json"), &web_spec(name, 3, port, 5_000));
}

/// Node ids of the hosts `app show --json` on node `i` lists.
fn hosts(c: &Cluster, i: usize, app: &str) -> Vec<String> {
    c.nodes[i]
        .get(&format!("/api/v1/apps/{app}"))
        .and_then(|v| {
            v["hosts"].as_array().map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn ready(c: &Cluster, i: usize) -> bool {
    c.nodes[i].get_text("/readyz").is_some()
}

#[test]
#[ignore = "full tier: needs Docker, the local registry and running daemons (scripts/test.sh runs it)"]
fn a_hung_docker_engine_never_stalls_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let proxy = HangProxy::start(&sock);
    let sock_arg = sock.display().to_string();
    let c = Cluster::start_with(3, 130, |i| {
        if i == 2 {
            vec!["--docker-socket".into(), sock_arg.clone()]
        } else {
            Vec::new()
        }
    });
    c.wait_ready(Duration::from_secs(90));
    let node3 = c.nodes[2]
        .get("/api/v1/node")
        .and_then(|v| v["id"].as_str().map(String::from))
        .unwrap();
    register(&c, "hangold", 31_431);
    c.wait_for("3 hosts of hangold", Duration::from_secs(90), || {
        (0..3)
            .all(|i| hosts(&c, i, "hangold").len() == 3)
            .then_some(())
    });
    assert!(ready(&c, 2), "node 3 ready before the hang");

    proxy.set_hang(true);
    let t_hang = Instant::now();
    c.wait_for("node 3 not ready", Duration::from_secs(20), || {
        (!ready(&c, 2)).then_some(())
    });
    let not_ready_after = t_hang.elapsed();
    // A new app while the engine hangs: node 3 must not take it.
    register(&c, "hangnew", 31_432);
    let watch_until = t_hang + Duration::from_secs(65);
    let mut api_answers = 0;
    while Instant::now() < watch_until {
        for i in 0..2 {
            let h = hosts(&c, i, "hangold");
            assert!(
                h.contains(&node3),
                "node {} dropped node 3 after {:?} of hang: {h:?}",
                i + 1,
                t_hang.elapsed()
            );
            assert!(
                !hosts(&c, i, "hangnew").contains(&node3),
                "node 3 placed hangnew"
            );
        }
        // Its own service task keeps answering: the API goes through it.
        if c.nodes[2].get("/api/v1/node").is_some() {
            api_answers += 1;
        }
        assert!(!ready(&c, 2), "node 3 ready while its engine hangs");
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        api_answers >= 50,
        "node 3's API answered {api_answers} times in 65 s"
    );
    assert_eq!(
        hosts(&c, 0, "hangnew").len(),
        2,
        "the two others run hangnew"
    );
    eprintln!(
        "engine-hang figures: not ready {:.1} s after the hang; kept as a live host for {:.0} s",
        not_ready_after.as_secs_f64(),
        t_hang.elapsed().as_secs_f64()
    );

    proxy.set_hang(false);
    let t_back = Instant::now();
    c.wait_for("node 3 ready again", Duration::from_secs(30), || {
        ready(&c, 2).then_some(())
    });
    let ready_after = t_back.elapsed();
    c.wait_for("hangnew on node 3 too", Duration::from_secs(120), || {
        (hosts(&c, 0, "hangnew").len() == 3).then_some(())
    });
    eprintln!(
        "engine-hang figures: ready {:.1} s after the engine answered, hangnew at 3 after {:.1} s",
        ready_after.as_secs_f64(),
        t_back.elapsed().as_secs_f64()
    );
}
