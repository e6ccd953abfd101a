//! The network service task: owns the libp2p swarm; one `select!` loop over swarm events,
//! daemon commands and a retry timer, each branch handled by an `on_*` method.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libp2p::futures::StreamExt;
use libp2p::metrics::Recorder;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns, noise, tcp, yamux};
use prometheus_client::registry::Registry;
use proto::encoding;
use proto::keys::NodeId;
use proto::message::Topic;
use tokio::sync::{mpsc, oneshot};

use super::behaviour::{Behaviour, BehaviourEvent, KAD_PROTOCOL, score_thresholds};
use super::handle::{Command, NetworkHandle, PeerInfo};
use super::health::{Observation, Tracker};
use super::publish_queue::PublishQueue;
use super::redial::LostPeers;
use super::{NetworkError, NetworkEvent, NetworkOptions, libp2p_keypair, node_id, peer_id};
use crate::metrics::Metrics;

mod inbound;
mod outbound;

/// Connections stay open this long without traffic. fluxnode topics are quiet for minutes at
/// a time and reconnecting costs a handshake per peer, so connections are kept for a day;
/// gossipsub and Kademlia hold them open anyway while the peer is in the mesh or table.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How often queued publishes are retried and missing bootstrap peers re-dialed.
const RETRY_PERIOD: Duration = Duration::from_secs(1);

/// Bootstrap peers are re-dialed at most this often while disconnected.
const BOOTSTRAP_REDIAL: Duration = Duration::from_secs(10);

/// Depth of the command and event channels. Events beyond this are dropped (and counted as
/// `event_queue_full`) rather than stalling the swarm, which would stall gossip for every
/// peer.
const CHANNEL_DEPTH: usize = 1024;

/// Starts the network service on the current tokio runtime.
///
/// libp2p's own metrics (connections, bandwidth, gossipsub, Kademlia, identify) are
/// registered in `registry`; fluxnode's own counters are updated through `metrics` (which
/// the caller registered in the same registry).
pub fn spawn(
    key: &proto::keys::Keypair,
    options: NetworkOptions,
    registry: &mut Registry,
    metrics: Metrics,
) -> Result<(NetworkHandle, mpsc::Receiver<NetworkEvent>), NetworkError> {
    let identity = libp2p_keypair(key)?;
    let mdns = options.mdns;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_quic()
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key| {
            Behaviour::new(key, mdns)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        })
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    for addr in &options.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    let libp2p_metrics = libp2p::metrics::Metrics::new(registry);
    let (command_tx, command_rx) = mpsc::channel(CHANNEL_DEPTH);
    let (event_tx, event_rx) = mpsc::channel(CHANNEL_DEPTH);
    let mut service = Service {
        swarm,
        metrics,
        libp2p_metrics,
        events: event_tx,
        bootstrap: options.bootstrap,
        connected: HashMap::new(),
        queue: PublishQueue::default(),
        pending_direct: HashMap::new(),
        listen_addrs: Vec::new(),
        last_bootstrap_dial: None,
        health: Tracker::default(),
        lost: LostPeers::default(),
    };
    service.dial_bootstrap();
    tokio::spawn(service.run(command_rx));
    Ok((
        NetworkHandle {
            commands: command_tx,
            local: key.public(),
        },
        event_rx,
    ))
}

struct Service {
    swarm: Swarm<Behaviour>,
    metrics: Metrics,
    libp2p_metrics: libp2p::metrics::Metrics,
    events: mpsc::Sender<NetworkEvent>,
    bootstrap: Vec<Multiaddr>,
    /// Open connections per peer, with their remote addresses.
    connected: HashMap<PeerId, Vec<Multiaddr>>,
    queue: PublishQueue,
    pending_direct: HashMap<OutboundRequestId, (NodeId, oneshot::Sender<Result<(), NetworkError>>)>,
    listen_addrs: Vec<Multiaddr>,
    last_bootstrap_dial: Option<tokio::time::Instant>,
    health: Tracker,
    /// Peers whose last connection closed, dialled again until they answer.
    lost: LostPeers,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Service {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut retry = tokio::time::interval(RETRY_PERIOD);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    // Every handle is gone: the daemon is shutting down.
                    None => break,
                },
                _ = retry.tick() => self.on_retry_tick(),
            }
        }
        tracing::debug!("network service stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, envelope } => self.on_publish(topic, &envelope),
            Command::SendDirect {
                to,
                envelope,
                reply,
            } => {
                let peer = peer_id(&to);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .direct
                    .send_request(&peer, encoding::encode(&envelope));
                self.pending_direct.insert(id, (to, reply));
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Dial { addr, reply } => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NetworkError::Dial {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    });
                let _ = reply.send(result);
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.listen_addrs.clone());
            }
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let gossip = &self.swarm.behaviour().gossipsub;
        let topics: HashMap<&PeerId, Vec<Topic>> = gossip
            .all_peers()
            .map(|(peer, hashes)| {
                let mut topics: Vec<Topic> = hashes
                    .into_iter()
                    .filter_map(|h| Topic::from_name(h.as_str()))
                    .collect();
                topics.sort();
                (peer, topics)
            })
            .collect();
        let mut peers: Vec<PeerInfo> = self
            .connected
            .iter()
            .map(|(peer, addrs)| PeerInfo {
                peer: *peer,
                node: node_id(peer),
                addresses: addrs.clone(),
                topics: topics.get(peer).cloned().unwrap_or_default(),
                gossip_score: gossip.peer_score(peer),
            })
            .collect();
        peers.sort_by_key(|p| p.peer.to_bytes());
        peers
    }

    fn on_retry_tick(&mut self) {
        self.retry_queued(None);
        self.dial_bootstrap();
        self.redial_lost();
        self.check_gossip();
    }

    /// Observes gossip (see [`super::health`]), updates its gauges, and tells the daemon
    /// and the log when the verdict changes.
    fn check_gossip(&mut self) {
        let now = now_ms();
        let gossip = &self.swarm.behaviour().gossipsub;
        let graylist = score_thresholds().graylist_threshold;
        let mut o = Observation {
            connected: self.connected.len(),
            mesh: gossip.all_mesh_peers().count(),
            oldest_queued_ms: self.queue.oldest_ms().map(|t| now.saturating_sub(t)),
            ..Observation::default()
        };
        for (peer, topics) in gossip.all_peers() {
            let ours = topics
                .iter()
                .any(|h| Topic::from_name(h.as_str()).is_some());
            if !ours || !self.connected.contains_key(peer) {
                continue;
            }
            o.gossip_peers += 1;
            if gossip.peer_score(peer).is_none_or(|s| s >= graylist) {
                o.accepted += 1;
            }
        }
        self.metrics.gossip_mesh_peers.set(o.mesh as i64);
        self.metrics
            .gossip_ignored_peers
            .set(o.gossip_peers.saturating_sub(o.accepted) as i64);
        let (verdict, isolated) = self.health.update(&o, now);
        self.metrics.gossip_isolated.set(i64::from(isolated));
        if let Some(report) = verdict {
            let verdict = report.health;
            if !report.changed {
                // Same verdict, fresher counts: for /readyz, not for the log.
            } else if verdict.ok {
                tracing::info!(detail = %verdict.detail, "gossip works");
            } else {
                tracing::warn!(detail = %verdict.detail, "gossip isolated: this node is not ready");
            }
            self.emit(NetworkEvent::GossipHealth(verdict));
        }
    }

    /// Dials peers this node lost (see [`super::redial`]) on the addresses it knew them by
    /// and those Kademlia has learnt since.
    fn redial_lost(&mut self) {
        for (peer, addrs) in self.lost.due(tokio::time::Instant::now()) {
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs)
                .extend_addresses_through_behaviour()
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "redial of a lost peer failed");
            }
        }
    }

    /// Dials bootstrap peers we are not connected to, at most every [`BOOTSTRAP_REDIAL`].
    fn dial_bootstrap(&mut self) {
        let now = tokio::time::Instant::now();
        if self
            .last_bootstrap_dial
            .is_some_and(|last| now.duration_since(last) < BOOTSTRAP_REDIAL)
        {
            return;
        }
        self.last_bootstrap_dial = Some(now);
        let mut seeded = false;
        for addr in self.bootstrap.clone() {
            let peer = match addr.iter().last() {
                Some(Protocol::P2p(peer)) => Some(peer),
                _ => None,
            };
            if let Some(peer) = peer {
                if self.connected.contains_key(&peer) {
                    continue;
                }
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
                seeded = true;
            } else if !self.connected.is_empty() {
                // Without a peer id we cannot tell whether this address is connected;
                // dial it only while the node has no peer at all.
                continue;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, error = %e, "bootstrap dial failed");
            }
        }
        if seeded {
            // Fails only with an empty routing table; the next redial retries.
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.libp2p_metrics.record(&event);
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => {
                self.libp2p_metrics.record(&e);
                self.on_gossip(e);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(e)) => self.on_direct(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => {
                self.libp2p_metrics.record(&e);
                self.on_identify(e);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.libp2p_metrics.record(&e),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(e)) => self.on_mdns(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => {
                self.libp2p_metrics.record(&e);
                self.on_ping(e);
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => self.on_connected(peer_id, endpoint.get_remote_address().clone()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                ..
            } => self.on_disconnected(peer_id, endpoint.get_remote_address(), num_established),
            _ => {}
        }
    }

    /// libp2p's ping no longer closes a connection on failure; without this a peer that
    /// vanished without a FIN or RST (power loss, partition) would stay "connected", in the
    /// peer count and the gossip mesh, until the idle timeout.
    ///
    /// A peer that does not speak ping (a light client, a tool) is left alone: only a
    /// ping that went unanswered or broke says the connection is dead.
    fn on_ping(&mut self, event: libp2p::ping::Event) {
        match event.result {
            Ok(_) | Err(libp2p::ping::Failure::Unsupported) => {}
            Err(e) => {
                tracing::debug!(peer = %event.peer, error = %e, "ping failed; closing the connection");
                self.swarm.close_connection(event.connection);
            }
        }
    }

    fn on_connected(&mut self, peer: PeerId, addr: Multiaddr) {
        self.lost.found(&peer);
        let addrs = self.connected.entry(peer).or_default();
        let first = addrs.is_empty();
        addrs.push(addr);
        self.metrics.peers.set(self.connected.len() as i64);
        if first {
            tracing::debug!(%peer, "peer connected");
            if let Some(node) = node_id(&peer) {
                self.emit(NetworkEvent::PeerConnected(node));
            }
        }
    }

    fn on_disconnected(&mut self, peer: PeerId, addr: &Multiaddr, remaining: u32) {
        if remaining == 0 {
            let addrs = self.connected.remove(&peer).unwrap_or_default();
            self.lost.lost(peer, addrs, tokio::time::Instant::now());
            tracing::debug!(%peer, "peer disconnected");
            if let Some(node) = node_id(&peer) {
                self.emit(NetworkEvent::PeerDisconnected(node));
            }
        } else if let Some(addrs) = self.connected.get_mut(&peer) {
            if let Some(i) = addrs.iter().position(|a| a == addr) {
                addrs.remove(i);
            }
        }
        self.metrics.peers.set(self.connected.len() as i64);
    }

    /// Hands an event to the daemon without ever blocking the swarm.
    fn emit(&self, event: NetworkEvent) {
        if self.events.try_send(event).is_err() {
            self.metrics.error("event_queue_full");
        }
    }

    /// Feeds the addresses a fluxnode peer listens on into Kademlia, so other nodes can be
    /// told about it. Peers that do not speak our Kademlia protocol are left out.
    fn on_identify(&mut self, event: identify::Event) {
        if let identify::Event::Received { peer_id, info, .. } = event {
            if info.protocols.contains(&KAD_PROTOCOL) {
                let kad = &mut self.swarm.behaviour_mut().kad;
                for addr in info.listen_addrs {
                    kad.add_address(&peer_id, addr);
                }
            }
        }
    }

    fn on_mdns(&mut self, event: mdns::Event) {
        if let mdns::Event::Discovered(found) = event {
            let mut dialed = HashSet::new();
            for (peer, addr) in found {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
                if !self.connected.contains_key(&peer) && dialed.insert(peer) {
                    let _ = self.swarm.dial(addr);
                }
            }
        }
    }
}
