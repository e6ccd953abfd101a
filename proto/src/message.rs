//! Protocol messages, each published on one gossip [`Topic`] inside a signed
//! [`crate::envelope::Envelope`].
//!
//! Who may send what (checked by [`crate::encoding::open`]): a node announcement, bid and
//! running report must be signed by the node they name; an assignment by its coordinator;
//! app registration / renewal / cancel may be relayed by anyone but carry the owner's own
//! signature ([`OwnerSigned`]).
//!
//! Binary compatibility: [`Message`] is encoded with postcard, which numbers enum variants
//! by position. Add new variants and fields only at the end, never reorder.

mod check;
mod owner;
mod placement;

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use check::{
    MAX_ADDR_LEN, MAX_APP_NAME_LEN, MAX_RESTART_WINDOW_MS, MAX_RUNNING_APPS, MAX_WINNERS,
    MessageError,
};
pub use owner::{
    AppCancel, AppRegistration, AppRenewal, AppUpdate, OwnerAction, OwnerSignatureError,
    OwnerSigned, owner_signing_bytes,
};
pub use placement::{
    BeatStatus, CallForBids, Decline, GroupBeat, MAX_REASON_LEN, MemberGone, RolloutReverted, Stop,
    UpdateOrder,
};

use crate::geo::Location;
use crate::keys::NodeId;
use crate::tier::{Resources, Tier};

/// A gossip topic. Its wire name carries a version, so an incompatible change moves to a
/// new topic rather than confusing old nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Announcements,
    Apps,
    Bids,
    Assignments,
    Running,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::Announcements,
        Topic::Apps,
        Topic::Bids,
        Topic::Assignments,
        Topic::Running,
    ];

    /// The gossipsub topic string, `fluxnode/<topic>/1`.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Announcements => "fluxnode/announcements/1",
            Topic::Apps => "fluxnode/apps/1",
            Topic::Bids => "fluxnode/bids/1",
            Topic::Assignments => "fluxnode/assignments/1",
            // 3: running reports and beats carry each instance's spec version.
            Topic::Running => "fluxnode/running/3",
        }
    }

    /// The topic with this gossipsub name, if any.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A time window in unix milliseconds, `from_ms..=until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartWindow {
    pub from_ms: u64,
    pub until_ms: u64,
}

/// A node's signed statement of what it is and what it has free, sent at every heartbeat
/// and on change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeAnnouncement {
    pub node: NodeId,
    /// Increases with every announcement from this node; receivers ignore anything not
    /// newer than what they hold, which defeats replays inside the 5-minute window.
    pub seq: u64,
    pub tier: Tier,
    pub location: Location,
    /// Capacity offered to apps (after the system reserve): cpu cores, ram MB, hdd GB.
    pub total: Resources,
    /// Of `total`, what running apps and open bids hold.
    pub used: Resources,
    /// The node's own benchmark figure (CPU events/s); peers may spot-check it later.
    pub bench_score: f64,
    /// Seconds the daemon has run without interruption, as the node claims. Shown only:
    /// the scheduler uses the uptime peers observe from announcements they receive.
    pub claimed_uptime_secs: u64,
    /// Where peers reach this node, a libp2p multiaddr such as `/ip4/203.0.113.7/tcp/16129`.
    pub advertise_addr: String,
    /// A restart the node plans: peers do not replace its apps while inside this window.
    pub planned_restart: Option<RestartWindow>,
    /// The network the node runs by: a hash of its tier profile, block time and genesis.
    /// Peers with another id do not take it as a member.
    pub network: String,
}

/// A node's offer to host an app in one placement round; the capacity stays reserved until
/// the round ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bid {
    pub app: String,
    pub round: u64,
    pub node: NodeId,
    /// What the node reserves for one instance of the app.
    pub offered: Resources,
}

/// The coordinator's decision for one round: which nodes run the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub app: String,
    pub round: u64,
    pub coordinator: NodeId,
    /// Winners in the scheduler's rank order (best first); no node twice.
    pub winners: Vec<NodeId>,
}

/// SHA-256 of an app's spec JSON bytes: names exactly which spec an instance runs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecHash(pub [u8; 32]);

impl SpecHash {
    pub fn of(spec_json: &[u8]) -> Self {
        Self(Sha256::digest(spec_json).into())
    }
}

impl fmt::Debug for SpecHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpecHash({})", hex::encode(self.0))
    }
}

impl fmt::Display for SpecHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Hex in JSON, 32 raw bytes in binary formats.
impl Serialize for SpecHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(self.0))
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for SpecHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(&s, &mut out).map_err(|e| {
                serde::de::Error::custom(format_args!("spec hash must be 64 hex digits: {e}"))
            })?;
            Ok(Self(out))
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Self)
        }
    }
}

/// One app instance a node runs, and which spec it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningApp {
    pub app: String,
    pub spec_hash: SpecHash,
    /// What the host's probes say of the instance.
    pub health: crate::health::Health,
    /// The spec version the instance runs (see [`GroupBeat::version`]).
    pub version: u64,
}

/// What a node runs now, sent at every heartbeat; the basis of reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningReport {
    pub node: NodeId,
    /// Sorted by app name, one entry per app.
    pub apps: Vec<RunningApp>,
}

/// Buckets of a [`LedgerSummary`]: owner actions grouped by the first byte of their id
/// modulo this. 64 keeps a summary under 1 KB while a node holding 1,000 apps that
/// misses one action is sent only its bucket, about 1/64 of the ledger.
pub const LEDGER_BUCKETS: usize = 64;

/// One bucket of a ledger summary: how many actions, and the first 8 bytes of the XOR
/// of their ids (big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketDigest {
    pub count: u32,
    pub xor: u64,
}

/// A node's compact summary of the app ledger it holds (anti-entropy). Sent to a peer on
/// connect, after a sync batch, and periodically; the peer answers by sending, one at a
/// time, the owner actions of every bucket whose digest differs from its own, then its
/// own summary — until the two match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSummary {
    pub node: NodeId,
    /// Owner actions held.
    pub count: u64,
    /// XOR of their ids (SHA-256 of the bytes each owner signed).
    pub xor: [u8; 32],
    /// Exactly [`LEDGER_BUCKETS`] entries.
    pub buckets: Vec<BucketDigest>,
}

/// Every protocol message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    Announcement(NodeAnnouncement),
    AppRegistration(OwnerSigned<AppRegistration>),
    AppRenewal(OwnerSigned<AppRenewal>),
    AppCancel(OwnerSigned<AppCancel>),
    Bid(Bid),
    Assignment(Assignment),
    RunningReport(RunningReport),
    CallForBids(CallForBids),
    Decline(Decline),
    GroupBeat(GroupBeat),
    Stop(Stop),
    LedgerSummary(LedgerSummary),
    MemberGone(MemberGone),
    AppUpdate(OwnerSigned<AppUpdate>),
    UpdateOrder(UpdateOrder),
    RolloutReverted(RolloutReverted),
}

impl Message {
    /// The topic this message is published on.
    pub fn topic(&self) -> Topic {
        match self {
            Message::Announcement(_) => Topic::Announcements,
            Message::AppRegistration(_)
            | Message::AppRenewal(_)
            | Message::AppCancel(_)
            | Message::AppUpdate(_)
            | Message::LedgerSummary(_) => Topic::Apps,
            Message::Bid(_) | Message::CallForBids(_) | Message::Decline(_) => Topic::Bids,
            Message::Assignment(_) | Message::Stop(_) | Message::UpdateOrder(_) => {
                Topic::Assignments
            }
            Message::RunningReport(_)
            | Message::GroupBeat(_)
            | Message::MemberGone(_)
            | Message::RolloutReverted(_) => Topic::Running,
        }
    }

    /// Short name of the message kind, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Announcement(_) => "announcement",
            Message::AppRegistration(_) => "app_registration",
            Message::AppRenewal(_) => "app_renewal",
            Message::AppCancel(_) => "app_cancel",
            Message::Bid(_) => "bid",
            Message::Assignment(_) => "assignment",
            Message::RunningReport(_) => "running_report",
            Message::CallForBids(_) => "call_for_bids",
            Message::Decline(_) => "decline",
            Message::GroupBeat(_) => "group_beat",
            Message::MemberGone(_) => "member_gone",
            Message::Stop(_) => "stop",
            Message::LedgerSummary(_) => "ledger_summary",
            Message::AppUpdate(_) => "app_update",
            Message::UpdateOrder(_) => "update_order",
            Message::RolloutReverted(_) => "rollout_reverted",
        }
    }

    /// The node that must have signed the envelope, and the field that names it; `None`
    /// for owner actions, which any node may relay.
    pub fn required_signer(&self) -> Option<(&'static str, &NodeId)> {
        match self {
            Message::Announcement(m) => Some(("node", &m.node)),
            Message::Bid(m) => Some(("node", &m.node)),
            Message::Assignment(m) => Some(("coordinator", &m.coordinator)),
            Message::RunningReport(m) => Some(("node", &m.node)),
            Message::CallForBids(m) => Some(("coordinator", &m.coordinator)),
            Message::Decline(m) => Some(("node", &m.node)),
            Message::GroupBeat(m) => Some(("node", &m.node)),
            Message::Stop(m) => Some(("coordinator", &m.coordinator)),
            Message::LedgerSummary(m) => Some(("node", &m.node)),
            Message::MemberGone(m) => Some(("by", &m.by)),
            Message::UpdateOrder(m) => Some(("coordinator", &m.coordinator)),
            Message::RolloutReverted(m) => Some(("by", &m.by)),
            Message::AppRegistration(_)
            | Message::AppRenewal(_)
            | Message::AppCancel(_)
            | Message::AppUpdate(_) => None,
        }
    }

    /// Checks the owner signature of an app action; other messages pass.
    pub fn verify_owner(&self) -> Result<(), OwnerSignatureError> {
        match self {
            Message::AppRegistration(m) => m.verify(),
            Message::AppRenewal(m) => m.verify(),
            Message::AppCancel(m) => m.verify(),
            Message::AppUpdate(m) => m.verify(),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_stable_and_parse_back() {
        let names: Vec<&str> = Topic::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(
            names,
            [
                "fluxnode/announcements/1",
                "fluxnode/apps/1",
                "fluxnode/bids/1",
                "fluxnode/assignments/1",
                "fluxnode/running/3"
            ]
        );
        for t in Topic::ALL {
            assert_eq!(Topic::from_name(t.name()), Some(t));
        }
        assert_eq!(Topic::from_name("fluxnode/bids/2"), None);
    }

    #[test]
    fn spec_hash_is_sha256_hex() {
        // SHA-256 of the empty string (FIPS 180-2 example).
        assert_eq!(
            SpecHash::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let h = SpecHash::of(b"{}");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<SpecHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<SpecHash>("\"abc\"").is_err());
    }
}
