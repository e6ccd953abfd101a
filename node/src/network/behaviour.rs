//! The libp2p behaviour: gossipsub for broadcasts, request-response for direct messages,
//! identify, Kademlia for discovery, optional mDNS — and their configuration.

use std::time::Duration;

use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode, score_parameter_decay,
};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{StreamProtocol, identify, mdns, ping};
use proto::envelope::{MAX_AGE_MS, MAX_ENVELOPE_BYTES, MAX_FUTURE_MS};
use proto::message::Topic;
use sha2::{Digest, Sha256};

use super::NetworkError;
use super::codec::DirectCodec;

/// Kademlia protocol name: our own, so fluxnode's DHT never merges with the public IPFS one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/fluxnode/kad/1");
/// Request-response protocol for node-to-node messages.
pub const DIRECT_PROTOCOL: StreamProtocol = StreamProtocol::new("/fluxnode/direct/1");
/// Identify protocol version string peers exchange.
pub const IDENTIFY_PROTOCOL: &str = "/fluxnode/id/1";

/// Room for gossipsub's own framing (protobuf fields, the topic string) around one envelope,
/// so an envelope of exactly `MAX_ENVELOPE_BYTES` still fits in one RPC. Anything larger
/// than the envelope limit still reaches validation and is counted as `oversized`.
const GOSSIP_FRAMING_BYTES: usize = 4 * 1024;

/// A direct request waits this long for the peer's acknowledgement. Direct messages are
/// calls for bids, bids and assignments whose deadlines are a few seconds; a reply later
/// than this is useless to the caller.
const DIRECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Ping period: a silent connection is noticed within one period plus [`PING_TIMEOUT`]. 5 s
/// matches the placement heartbeat, so `fluxnode_peers` drops at about the time the
/// protocol starts to suspect the peer; a ping is ~100 bytes per peer per period.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// A ping unanswered this long closes the connection: well above any round trip (loopback to
/// intercontinental, under a second), short enough that a dead peer leaves the peer count
/// and gossip mesh in under 20 s.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub gossipsub: gossipsub::Behaviour,
    pub direct: request_response::Behaviour<DirectCodec>,
    pub identify: identify::Behaviour,
    pub kad: kad::Behaviour<MemoryStore>,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Liveness of each connection: a host that died without closing its sockets, or a
    /// network partition, leaves TCP connections open for hours; a failed ping closes them.
    pub ping: ping::Behaviour,
}

impl Behaviour {
    pub fn new(key: &Keypair, mdns_enabled: bool) -> Result<Self, NetworkError> {
        let peer_id = key.public().to_peer_id();
        let mut gossipsub =
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config()?)
                .map_err(|e| NetworkError::Gossip(e.to_string()))?;
        gossipsub
            .with_peer_score(score_params(), score_thresholds())
            .map_err(NetworkError::Gossip)?;
        for topic in Topic::ALL {
            gossipsub
                .subscribe(&IdentTopic::new(topic.name()))
                .map_err(|e| NetworkError::Gossip(e.to_string()))?;
        }
        let direct = request_response::Behaviour::with_codec(
            DirectCodec,
            [(DIRECT_PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(DIRECT_TIMEOUT),
        );
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
                .with_agent_version(format!("fluxnode/{}", env!("CARGO_PKG_VERSION"))),
        );
        let mut kad = kad::Behaviour::with_config(
            peer_id,
            MemoryStore::new(peer_id),
            kad::Config::new(KAD_PROTOCOL),
        );
        // Server mode from the start: every fluxnode is a full DHT member, whatever its
        // address confirmation state (nodes on a LAN or loopback never confirm one).
        kad.set_mode(Some(kad::Mode::Server));
        let mdns = if mdns_enabled {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(|e| NetworkError::Mdns(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Self {
            gossipsub,
            direct,
            identify,
            kad,
            mdns: mdns.into(),
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_INTERVAL)
                    .with_timeout(PING_TIMEOUT),
            ),
        })
    }
}

/// Gossipsub configuration shared by every fluxnode (and by test peers that must speak the
/// same dialect).
///
/// - Anonymous authenticity: messages carry no gossipsub-level source, sequence number or
///   signature. Each payload is already a signed envelope whose signer the node verifies;
///   a second signature by the relaying peer would add ~100 bytes and prove nothing more.
/// - Message id = SHA-256 of the bytes, so the same envelope relayed by many peers is one
///   message, and a replay is recognised as a duplicate.
/// - Manual validation: nothing is forwarded before the daemon reports Accept.
/// - Duplicates remembered for the whole window a message is valid (5 min old to 2 min
///   ahead), so a replay inside that window is dropped by gossipsub itself.
pub fn gossip_config() -> Result<gossipsub::Config, NetworkError> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(Sha256::digest(&m.data).to_vec()))
        .max_transmit_size(MAX_ENVELOPE_BYTES + GOSSIP_FRAMING_BYTES)
        .duplicate_cache_time(Duration::from_millis(MAX_AGE_MS + MAX_FUTURE_MS))
        .build()
        .map_err(|e| NetworkError::Gossip(e.to_string()))
}

/// Decay of the invalid-message counter: it falls to gossipsub's decay-to-zero level after
/// an hour, so a peer that once relayed junk (a bug, a bad upgrade) is forgiven later.
const INVALID_DECAY: Duration = Duration::from_secs(3600);

/// Peer scoring that punishes invalid messages (P₄) and nothing else that depends on
/// traffic volume: fluxnode topics are quiet (announcements every 5 minutes), so the mesh
/// delivery penalties (P₃, P₃b) would punish honest peers for a silent network.
pub fn score_params() -> PeerScoreParams {
    let topic = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        // P₂: a small bonus for first deliveries of valid messages, capped so it can offset
        // one or two invalid messages but never buy immunity.
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: score_parameter_decay(Duration::from_secs(600)),
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P₄ = weight × count²: 1 invalid → −10, 2 → −40, 3 → −90 (graylisted).
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: score_parameter_decay(INVALID_DECAY),
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        // P₆ (IP colocation) off. Its default (−5·(k−10)² beyond 10 peers per IP) assumes
        // peers are free to create, so many behind one address must be a Sybil attack. For
        // fluxnode many nodes behind one IP are a normal deployment (an operator's rack
        // behind one NAT, a testnet on loopback): with the default, 11+ such nodes fell
        // below the graylist threshold at their peers and were silently ignored. What a
        // peer sends is checked message by message instead (P₄ above), and a node that
        // nobody hears is reported not ready (`network::service::health`).
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    for t in Topic::ALL {
        params
            .topics
            .insert(IdentTopic::new(t.name()).hash(), topic.clone());
    }
    params
}

/// Thresholds against the P₄ steps above: one invalid message stops gossip to the peer only
/// with a second; three within the decay window graylist it (its messages are ignored).
pub fn score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}
