//! The protocol's messages over a generic peer handle `P`. The daemon maps them to the
//! signed wire types of `proto::message` (same fields, `P` = `NodeId`); the simulator
//! passes them as they are. App names are `Arc<str>` so a broadcast fanned out to
//! thousands of receivers shares one allocation.

use std::sync::Arc;

use proto::message::Topic;

use super::Millis;
use super::view::AppRecord;

pub use proto::health::Health;

/// What a group member says about its instance in a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeatStatus {
    /// Assigned, containers being pulled or started.
    Starting,
    Running,
    /// The instance is gone (stopped, failed, expired): drop the sender from the group now.
    Leaving,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Msg<P> {
    // Ledger messages (broadcast to every node; applied to the View).
    /// Owner-signed registration, validated and converted by the receiver.
    Register(Arc<AppRecord>),
    /// Owner-signed renewal: the app now expires at `height + expire`.
    Renew {
        app: Arc<str>,
        height: u64,
        expire: u32,
    },
    /// Owner-signed cancel: every host removes the app at once.
    Cancel {
        app: Arc<str>,
    },
    /// Owner-signed update: the app's spec is now this record (its `version` greater than
    /// the one it replaces); the group's coordinator rolls the instances over to it.
    Update(Arc<AppRecord>),
    /// A node's capacity announcement: what it has free for apps.
    Announce {
        node: P,
        used_milli_cpu: u64,
        used_ram_mb: u64,
        used_hdd_gb: u64,
        restart_until: Option<Millis>,
    },
    /// A node started (`running`) or dropped an instance; answers "where does app X run".
    Running {
        node: P,
        app: Arc<str>,
        running: bool,
        /// The instance's health as its host probes it.
        health: Health,
        /// The spec version the instance runs ([`AppRecord::version`]).
        version: u64,
    },
    /// The rollout of spec `version` of `app` failed (`reason`): the app goes back to
    /// spec `good`. From a node that runs the app (its coordinator, or the host where the
    /// new version failed).
    Reverted {
        app: Arc<str>,
        version: u64,
        good: u64,
        by: P,
        reason: Arc<str>,
    },
    /// A group's coordinator found `node` dead for the group (missed beats): every node
    /// drops it from the app's locations at once instead of after membership expiry.
    Gone {
        app: Arc<str>,
        node: P,
        by: P,
    },

    // Placement messages (sent directly to the few nodes concerned).
    CallForBids {
        app: Arc<str>,
        round: u64,
        coordinator: P,
        deadline: Millis,
    },
    Bid {
        app: Arc<str>,
        round: u64,
        node: P,
    },
    Decline {
        app: Arc<str>,
        round: u64,
        node: P,
    },
    /// The group after the round: kept members and new winners, best first.
    Assignment {
        app: Arc<str>,
        round: u64,
        coordinator: P,
        group: Arc<[P]>,
    },
    /// Heartbeat between the members of an app's group.
    Beat {
        app: Arc<str>,
        node: P,
        status: BeatStatus,
        restart_until: Option<Millis>,
        health: Health,
        /// The spec version the member's instance runs or starts.
        version: u64,
    },
    /// The coordinator tells a member to move its instance to spec `version` (a rolling
    /// update step, or a revert).
    Move {
        app: Arc<str>,
        coordinator: P,
        node: P,
        version: u64,
    },
    /// The coordinator tells an extra instance to stop.
    Stop {
        app: Arc<str>,
        coordinator: P,
        node: P,
    },
}

impl<P> Msg<P> {
    /// Whether this message goes to every node (gossip) rather than to named peers.
    pub fn is_ledger(&self) -> bool {
        matches!(
            self,
            Msg::Register(_)
                | Msg::Renew { .. }
                | Msg::Cancel { .. }
                | Msg::Update(_)
                | Msg::Announce { .. }
                | Msg::Running { .. }
                | Msg::Gone { .. }
                | Msg::Reverted { .. }
        )
    }

    /// The gossip topic (for broadcasts) or the topic of the wire type the daemon sends
    /// over request-response.
    pub fn topic(&self) -> Topic {
        match self {
            Msg::Register(_) | Msg::Renew { .. } | Msg::Cancel { .. } | Msg::Update(_) => {
                Topic::Apps
            }
            Msg::Announce { .. } => Topic::Announcements,
            Msg::Running { .. } | Msg::Beat { .. } | Msg::Gone { .. } | Msg::Reverted { .. } => {
                Topic::Running
            }
            Msg::CallForBids { .. } | Msg::Bid { .. } | Msg::Decline { .. } => Topic::Bids,
            Msg::Assignment { .. } | Msg::Stop { .. } | Msg::Move { .. } => Topic::Assignments,
        }
    }

    /// The app a message is about, if any.
    pub fn app(&self) -> Option<&str> {
        match self {
            Msg::Register(r) | Msg::Update(r) => Some(&r.name),
            Msg::Renew { app, .. }
            | Msg::Reverted { app, .. }
            | Msg::Move { app, .. }
            | Msg::Cancel { app }
            | Msg::Running { app, .. }
            | Msg::Gone { app, .. }
            | Msg::CallForBids { app, .. }
            | Msg::Bid { app, .. }
            | Msg::Decline { app, .. }
            | Msg::Assignment { app, .. }
            | Msg::Beat { app, .. }
            | Msg::Stop { app, .. } => Some(app),
            Msg::Announce { .. } => None,
        }
    }

    /// Short kind name for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Register(_) => "register",
            Msg::Renew { .. } => "renew",
            Msg::Cancel { .. } => "cancel",
            Msg::Announce { .. } => "announce",
            Msg::Running { .. } => "running",
            Msg::Gone { .. } => "gone",
            Msg::CallForBids { .. } => "call_for_bids",
            Msg::Bid { .. } => "bid",
            Msg::Decline { .. } => "decline",
            Msg::Assignment { .. } => "assignment",
            Msg::Beat { .. } => "beat",
            Msg::Stop { .. } => "stop",
            Msg::Update(_) => "update",
            Msg::Move { .. } => "move",
            Msg::Reverted { .. } => "reverted",
        }
    }

    /// Size on the wire: the signed envelope (32-byte key, 64-byte signature, 8-byte
    /// timestamp, length prefixes ≈ 110 bytes) plus the postcard-encoded body, with a
    /// node id as its 32 key bytes. Used for the simulator's bandwidth figures.
    pub fn wire_bytes(&self) -> u64 {
        const ENVELOPE: u64 = 110;
        const ID: u64 = 32;
        let name = |a: &Arc<str>| a.len() as u64 + 1;
        ENVELOPE
            + match self {
                Msg::Register(r) | Msg::Update(r) => r.spec_bytes + 8 + 96,
                Msg::Renew { app, .. } => name(app) + 8 + 5 + 96,
                Msg::Cancel { app } => name(app) + 96,
                Msg::Announce { .. } => ID + 120,
                Msg::Running { app, .. } => ID + name(app) + 2 + 32 + 8,
                Msg::Reverted { app, reason, .. } => name(app) + 16 + ID + reason.len() as u64,
                Msg::Move { app, .. } => name(app) + 2 * ID + 8,
                Msg::Gone { app, .. } => name(app) + 2 * ID,
                Msg::CallForBids { app, .. } => name(app) + 8 + ID + 8,
                Msg::Bid { app, .. } => name(app) + 8 + ID + 24,
                Msg::Decline { app, .. } => name(app) + 8 + ID,
                Msg::Assignment { app, group, .. } => {
                    name(app) + 8 + ID + 1 + ID * group.len() as u64
                }
                Msg::Beat { app, .. } => name(app) + ID + 2 + 9 + 32 + 8,
                Msg::Stop { app, .. } => name(app) + 2 * ID,
            }
    }
}
