//! Helpers for tests against the real Docker engine and the local registry.
#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxnode::runtime::{ComponentPlan, PullPolicy, RuntimeConfig};

pub const TEST_LABEL: (&str, &str) = ("io.fluxnode.test", "1");

pub fn registry() -> String {
    std::env::var("FLUXNODE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into())
}

pub fn base_image() -> String {
    format!("{}/fluxnode-test/busybox:latest", registry())
}

/// A name unique across concurrent test processes: letters and digits only.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}x{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    )
}

pub fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    let text = if out.status.success() {
        out.stdout
    } else {
        out.stderr
    };
    (
        out.status.success(),
        String::from_utf8_lossy(&text).trim().to_string(),
    )
}

pub fn docker_ok(args: &[&str]) -> String {
    let (ok, out) = docker(args);
    assert!(ok, "docker {args:?} failed: {out}");
    out
}

/// Pushes the test image under a tag of its own and removes that tag locally, so the
/// runtime's pull is a real registry pull and no other test shares the reference.
pub fn push_unique_image() -> String {
    let base = base_image();
    if !docker(&["image", "inspect", &base]).0 {
        docker_ok(&["pull", "-q", &base]);
    }
    let tag = format!("{}/fluxnode-test/busybox:{}", registry(), unique("t"));
    docker_ok(&["tag", &base, &tag]);
    docker_ok(&["push", "-q", &tag]);
    docker_ok(&["rmi", &tag]);
    tag
}

pub fn image_present(reference: &str) -> bool {
    docker(&["image", "inspect", reference]).0
}

/// A loopback port free for both tcp and udp right now.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn config(node_id: &str) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::new(node_id, "127.0.0.1");
    cfg.extra_labels = vec![(TEST_LABEL.0.into(), TEST_LABEL.1.into())];
    cfg.stop_timeout_s = 1;
    cfg.pull_policy = PullPolicy::Always;
    // The test registry is on loopback, which a node refuses unless listed.
    cfg.loopback_registries = vec![registry()];
    cfg
}

pub fn component(name: &str, image: &str, commands: &[&str]) -> ComponentPlan {
    ComponentPlan {
        name: name.into(),
        repotag: image.into(),
        repoauth: None,
        ports: vec![],
        container_ports: vec![],
        env: vec![],
        commands: commands.iter().map(|s| s.to_string()).collect(),
        container_data: "/data".into(),
        cpu: 0.5,
        ram_mb: 64,
        hdd_gb: 1,
    }
}

/// Objects carrying `io.fluxnode.node=<node>`: (containers, networks, volumes).
pub fn leftovers(node: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let filter = format!("label=io.fluxnode.node={node}");
    let lines = |s: String| {
        s.lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    };
    (
        lines(docker_ok(&["ps", "-aq", "--filter", &filter])),
        lines(docker_ok(&["network", "ls", "-q", "--filter", &filter])),
        lines(docker_ok(&["volume", "ls", "-q", "--filter", &filter])),
    )
}

/// Removes everything of `node` when dropped, so a failed test leaves nothing behind.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (c, n, v) = leftovers(&self.0);
        for id in c {
            docker(&["rm", "-f", &id]);
        }
        for id in n {
            docker(&["network", "rm", &id]);
        }
        for id in v {
            docker(&["volume", "rm", "-f", &id]);
        }
    }
}

/// `docker inspect` of one object as JSON.
pub fn inspect(what: &str) -> serde_json::Value {
    let out = docker_ok(&["inspect", what]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

pub async fn eventually<F: FnMut() -> bool>(what: &str, timeout: Duration, mut f: F) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
