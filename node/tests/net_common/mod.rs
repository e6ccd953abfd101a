//! Helpers for network tests: real libp2p swarms on 127.0.0.1, one registry per node.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxnode::metrics::{Metrics, encode_text};
use fluxnode::network::{self, NetworkEvent, NetworkHandle, NetworkOptions, Origin};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use prometheus_client::registry::Registry;
use proto::envelope::Envelope;
use proto::geo::Location;
use proto::keys::Keypair;
use proto::message::{Message, NodeAnnouncement};
use proto::tier::{Resources, Tier};
use tokio::sync::mpsc;

/// How long a test waits for something that normally takes well under a second on
/// loopback (connection, gossip mesh, delivery); generous for a loaded CI machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn key(seed: u8) -> Keypair {
    Keypair::from_seed(&[seed; 32])
}

pub fn announcement(key: &Keypair, seq: u64) -> Message {
    Message::Announcement(NodeAnnouncement {
        node: key.public(),
        seq,
        tier: Tier::Cumulus,
        location: Location {
            continent: "EU".into(),
            country: "DE".into(),
            region: "HE".into(),
        },
        total: Resources::new(3.0, 6_000, 160),
        used: Resources::new(0.0, 0, 0),
        bench_score: 300.0,
        claimed_uptime_secs: 60,
        advertise_addr: "/ip4/127.0.0.1/tcp/16125".into(),
        planned_restart: None,
        network: "0000000000000000".into(),
    })
}

/// A correctly signed envelope holding `message`, timestamped `at_ms`.
pub fn sealed(key: &Keypair, at_ms: u64, message: &Message) -> Envelope {
    proto::encoding::seal(key, at_ms, message).unwrap()
}

pub struct TestNode {
    pub key: Keypair,
    pub handle: NetworkHandle,
    pub events: mpsc::Receiver<NetworkEvent>,
    pub registry: Registry,
    /// Where other nodes reach this one: `/ip4/127.0.0.1/tcp/<port>/p2p/<id>`.
    pub addr: Multiaddr,
}

impl TestNode {
    /// A node listening on TCP 127.0.0.1, on a port the OS picks.
    pub async fn start(seed: u8, bootstrap: Vec<Multiaddr>) -> TestNode {
        Self::start_on(seed, "/ip4/127.0.0.1/tcp/0", bootstrap).await
    }

    pub async fn start_on(seed: u8, listen: &str, bootstrap: Vec<Multiaddr>) -> TestNode {
        let key = key(seed);
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let options = NetworkOptions {
            listen: vec![listen.parse().unwrap()],
            bootstrap,
            mdns: false,
        };
        let (handle, events) = network::spawn(&key, options, &mut registry, metrics).unwrap();
        let listen = eventually("listen address", || {
            let handle = handle.clone();
            async move { handle.listen_addrs().await.unwrap().into_iter().next() }
        })
        .await;
        let addr = listen.with(Protocol::P2p(network::peer_id(&key.public())));
        TestNode {
            key,
            handle,
            events,
            registry,
            addr,
        }
    }

    pub fn metrics_text(&self) -> String {
        encode_text(&self.registry).unwrap()
    }

    /// The value of the sample `series` (name with labels, e.g. `x_total{a="b"}`), or 0
    /// when the series is absent.
    pub fn metric(&self, series: &str) -> f64 {
        sample(&self.metrics_text(), series)
    }

    /// Waits for the next message event (skipping peer events).
    pub async fn next_message(&mut self) -> (proto::encoding::Opened, Origin) {
        loop {
            match tokio::time::timeout(PATIENCE, self.events.recv()).await {
                Ok(Some(NetworkEvent::Message {
                    message, origin, ..
                })) => return (message, origin),
                Ok(Some(_)) => continue,
                Ok(None) => panic!("network service stopped"),
                Err(_) => panic!("no message within {PATIENCE:?}"),
            }
        }
    }

    /// Every message event already queued, without waiting.
    pub fn drain_messages(&mut self) -> Vec<proto::encoding::Opened> {
        let mut out = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            if let NetworkEvent::Message { message, .. } = event {
                out.push(message);
            }
        }
        out
    }

    /// Waits until `n` peers are connected and this node knows each subscribes to `topic`
    /// (a gossip message only reaches peers whose subscription its sender already knows;
    /// peers that subscribe later hear the protocol's next periodic message).
    pub async fn wait_for_subscribers(&self, n: usize, topic: proto::message::Topic) {
        eventually("subscribed peers", || {
            let handle = self.handle.clone();
            async move {
                let peers = handle.peers().await.unwrap();
                (peers.iter().filter(|p| p.topics.contains(&topic)).count() >= n).then_some(())
            }
        })
        .await
    }

    pub async fn wait_for_peers(&self, n: usize) {
        eventually("peers", || {
            let handle = self.handle.clone();
            async move { (handle.peers().await.unwrap().len() >= n).then_some(()) }
        })
        .await
    }
}

pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

/// Polls `check` every 50 ms until it yields a value, for at most [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `promtool check metrics` on `text`; `None` when promtool is not installed.
pub fn promtool_check(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), report))
}
