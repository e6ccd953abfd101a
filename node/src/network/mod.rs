//! The libp2p network service: gossip broadcasts and direct node-to-node messages, every
//! one validated before the daemon sees it (and, for gossip, before it is forwarded).
//!
//! The daemon talks to the network only through this module's types:
//! - [`spawn`] starts the service task and returns a [`NetworkHandle`] and a receiver of
//!   [`NetworkEvent`]s;
//! - [`NetworkHandle`] (cloneable) sends [`Command`]s: publish, send direct, peers, dial;
//! - [`NetworkEvent`] reports verified messages and peer connections.
//!
//! Transports: TCP + noise + yamux, and QUIC (listen on `/ip4/…/udp/…/quic-v1` to use it).
//! The node's libp2p identity is its fluxnode key, so a peer id is a fluxnode node id.

mod behaviour;
mod codec;
mod handle;
pub mod health;
mod publish_queue;
mod redial;
mod service;

use std::str::FromStr;

use libp2p::{Multiaddr, PeerId};
use proto::encoding::Opened;
use proto::keys::NodeId;
use proto::message::Topic;

pub use behaviour::{
    DIRECT_PROTOCOL, IDENTIFY_PROTOCOL, KAD_PROTOCOL, gossip_config, score_params, score_thresholds,
};
pub use codec::DirectAck;
pub use handle::{Command, NetworkHandle, PeerInfo};
pub use service::spawn;

use crate::config::NetworkConfig;

/// Where the network listens and whom it contacts first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOptions {
    /// Listen addresses, e.g. `/ip4/0.0.0.0/tcp/16125`, `/ip4/0.0.0.0/udp/16125/quic-v1`.
    pub listen: Vec<Multiaddr>,
    /// Peers dialed at start and re-dialed while disconnected. With a `/p2p/<id>` suffix the
    /// peer also seeds the Kademlia routing table.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
}

impl NetworkOptions {
    /// Parses the configured multiaddrs, naming the config key of a bad one.
    pub fn from_config(config: &NetworkConfig) -> Result<Self, NetworkError> {
        Ok(Self {
            listen: parse_addrs("network.listen", &config.listen)?,
            bootstrap: parse_addrs("network.bootstrap", &config.bootstrap)?,
            mdns: config.mdns,
        })
    }
}

fn parse_addrs(key: &'static str, list: &[String]) -> Result<Vec<Multiaddr>, NetworkError> {
    list.iter()
        .map(|text| {
            Multiaddr::from_str(text).map_err(|e| NetworkError::Address {
                key,
                addr: text.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// How a message reached this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Broadcast on this gossip topic.
    Gossip(Topic),
    /// Sent to this node alone (request-response).
    Direct,
}

impl Origin {
    /// The metric label: the topic's short name, or `direct`.
    pub fn label(self) -> &'static str {
        match self {
            Origin::Gossip(t) => topic_label(t),
            Origin::Direct => "direct",
        }
    }
}

/// Short topic name for metric labels.
pub fn topic_label(topic: Topic) -> &'static str {
    match topic {
        Topic::Announcements => "announcements",
        Topic::Apps => "apps",
        Topic::Bids => "bids",
        Topic::Assignments => "assignments",
        Topic::Running => "running",
    }
}

/// What the network tells the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkEvent {
    /// A message that passed every check of `proto::encoding::receive` (gossip) or
    /// `proto::encoding::open` plus signer = sending peer (direct).
    Message {
        message: Opened,
        /// The peer that delivered it: for gossip the relaying neighbour (the author is
        /// `message.signer`), for direct messages the sender itself.
        via: NodeId,
        origin: Origin,
    },
    /// First connection to a peer opened.
    PeerConnected(NodeId),
    /// Last connection to a peer closed.
    PeerDisconnected(NodeId),
    /// Whether gossip works changed (see [`health`]): sent at the first observation and
    /// whenever the verdict changes.
    GossipHealth(health::GossipHealth),
}

/// Why the network could not start or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{key}: {addr:?} is not a multiaddr: {reason}")]
    Address {
        key: &'static str,
        addr: String,
        reason: String,
    },
    #[error("node key is not usable as a libp2p identity: {0}")]
    Identity(String),
    #[error("transport setup failed: {0}")]
    Transport(String),
    #[error("gossipsub setup failed: {0}")]
    Gossip(String),
    #[error("mDNS could not start (set network.mdns = false on hosts without multicast): {0}")]
    Mdns(String),
    #[error("cannot listen on {addr}: {reason} (change network.listen)")]
    Listen { addr: Multiaddr, reason: String },
    #[error("cannot dial {addr}: {reason}")]
    Dial { addr: String, reason: String },
    #[error("direct message to {to} failed: {reason}")]
    Direct { to: String, reason: String },
    #[error("direct message to {to} was rejected by the receiver (check clocks and keys)")]
    DirectRejected { to: String },
    #[error("the network service has stopped")]
    Stopped,
    #[error("the network service's queue is full; message dropped (the node is overloaded)")]
    Busy,
}

/// The libp2p identity of a fluxnode key (the same ed25519 key).
pub fn libp2p_keypair(
    key: &proto::keys::Keypair,
) -> Result<libp2p::identity::Keypair, NetworkError> {
    libp2p::identity::Keypair::ed25519_from_bytes(key.seed())
        .map_err(|e| NetworkError::Identity(e.to_string()))
}

/// The peer id of a node.
pub fn peer_id(node: &NodeId) -> PeerId {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&node.to_bytes())
        // `NodeId` is constructed only from validated curve points (proto::keys).
        .expect("a NodeId is always a valid ed25519 public key");
    libp2p::identity::PublicKey::from(key).to_peer_id()
}

/// The node id of a peer, when the peer's identity is an ed25519 key (every fluxnode's is).
pub fn node_id(peer: &PeerId) -> Option<NodeId> {
    NodeId::from_node_id(&peer.to_string()).ok()
}

#[cfg(test)]
mod tests;
