//! Placement messages sent directly between the few nodes concerned with one app (libp2p
//! request-response in the daemon), each inside a signed envelope like the gossip ones:
//! a coordinator's call for bids and stop order, a called node's decline, and the
//! heartbeat between the members of an app's group.

use serde::{Deserialize, Serialize};

use crate::keys::NodeId;

/// The coordinator asks a shortlist of nodes to bid for an app until `deadline_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallForBids {
    pub app: String,
    pub round: u64,
    pub coordinator: NodeId,
    /// End of the bid window; bidders reserve capacity a little beyond it.
    pub deadline_ms: u64,
}

/// A called node cannot host the app (or an assigned node could not start it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decline {
    pub app: String,
    pub round: u64,
    pub node: NodeId,
}

/// What a member says about its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeatStatus {
    Starting,
    Running,
    /// The instance is gone: drop the sender from the group now.
    Leaving,
}

/// Heartbeat between the members of one app's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBeat {
    pub app: String,
    pub node: NodeId,
    pub status: BeatStatus,
    /// A planned restart: do not replace this member before this time (unix ms).
    pub restart_until_ms: Option<u64>,
    /// The member's instance as its own probes see it.
    pub health: crate::health::Health,
    /// The spec version the instance runs (or starts): the owner's `signed_at_ms` of the
    /// registration or update that set the spec.
    pub version: u64,
}

/// A group's coordinator found `node` dead for the group (it missed its beats): every
/// node drops it from the app's locations now. Signed by `by`, which receivers accept
/// only when `by` itself runs the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberGone {
    pub app: String,
    pub node: NodeId,
    pub by: NodeId,
}

/// The coordinator orders an extra instance to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub app: String,
    pub coordinator: NodeId,
    pub node: NodeId,
}

/// The coordinator orders a member to move its instance to spec `version` (a rolling
/// update, or its revert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOrder {
    pub app: String,
    pub coordinator: NodeId,
    pub node: NodeId,
    pub version: u64,
}

/// Longest reason a reverted rollout carries.
pub const MAX_REASON_LEN: usize = 512;

/// The rollout of spec `version` failed and the app goes back to `good`: every node shows
/// the reason, and new instances start `good`. Signed by `by`, which receivers accept only
/// when `by` itself runs the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutReverted {
    pub app: String,
    pub version: u64,
    pub good: u64,
    pub by: NodeId,
    pub reason: String,
}
