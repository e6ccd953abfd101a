//! JSON bodies of the HTTP API, shared by the server ([`super::server`]) and the client
//! ([`super::client`]) so the two cannot drift apart.
//!
//! Units follow the Flux app spec: cpu in cores, ram in MB, hdd in GB; heights are blocks.

use proto::tier::Resources;
use serde::{Deserialize, Serialize};

/// `GET /api/v1/node`: what this node is and holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node id (its libp2p peer id, `12D3KooW…`).
    pub id: String,
    /// fluxnode version.
    pub version: String,
    /// `cumulus`, `nimbus`, `stratus`, or what the benchmark says when below them.
    pub tier: String,
    /// Location as `CONT_CC_REGION`.
    pub geo: String,
    /// Where peers and app users reach this node.
    pub advertise_addr: String,
    /// Current chain height.
    pub height: u64,
    pub uptime_secs: u64,
    pub capacity: CapacityStatus,
    /// The last benchmark report, when one has run.
    pub benchmark: Option<serde_json::Value>,
    /// Peers with an open connection.
    pub peers: usize,
    /// The app ledger as this node holds it: nodes holding the same owner actions show
    /// the same digest.
    #[serde(default)]
    pub ledger: LedgerStatus,
    /// Apps this node hosts.
    pub hosted: Vec<HostedApp>,
}

/// A summary of a node's app ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerStatus {
    /// Apps held (live, expired or cancelled, until they leave at their end height).
    pub apps: usize,
    /// Owner actions held.
    pub actions: usize,
    /// `count:hex` of the XOR of the held actions' ids.
    pub digest: String,
    /// Names whose ended apps left a tombstone.
    pub tombstones: usize,
    /// Owner actions this node checked (signature, validation) since it started.
    pub checks: u64,
}

/// A node's capacity, after its system reserve. `free = total - used - reserved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityStatus {
    pub total: Resources,
    /// Held by running apps.
    pub used: Resources,
    /// Held by open bids.
    pub reserved: Resources,
    pub free: Resources,
}

/// One app this node hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedApp {
    pub name: String,
    /// Whether every component's container runs.
    pub running: bool,
}

/// One registered app, as this node knows it. `POST /api/v1/apps` and
/// `POST /api/v1/apps/{name}/renew` answer with it too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    pub name: String,
    /// Node id form of the owner's public key (the key that signed the registration).
    pub owner: String,
    /// Instances wanted.
    pub instances: u32,
    /// Instances running, as reported by their hosts.
    pub running: u32,
    /// Height of the registration or of the last renewal.
    pub registered_height: u64,
    pub expire_blocks: u32,
    /// `registered_height + expire_blocks`: no new placements from here on.
    pub expires_at_height: u64,
    /// `expires_at_height + grace` (2,640 blocks): containers and data are removed.
    pub removal_height: u64,
    pub cancelled: bool,
    /// Node ids running an instance.
    pub hosts: Vec<String>,
    /// The spec as registered.
    pub spec: serde_json::Value,
    /// Instances whose host reports them healthy.
    #[serde(default)]
    pub healthy: u32,
    /// Each instance's state (`starting`, `healthy`, `unhealthy`), in `hosts` order.
    #[serde(default)]
    pub instance_health: Vec<InstanceHealth>,
    /// The app's latest spec version (the owner's signing time, in ms, of the
    /// registration or update that set it).
    #[serde(default)]
    pub version: u64,
    /// The version new instances start and the group moves to: `version`, unless its
    /// rollout was reverted.
    #[serde(default)]
    pub target_version: u64,
    /// The last rolling update, once the app has been updated.
    #[serde(default)]
    pub rollout: Option<RolloutStatus>,
}

/// One instance's health as its host's probes report it, and the spec version it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceHealth {
    pub node: String,
    pub health: proto::health::Health,
    /// 0 when the host has not said.
    #[serde(default)]
    pub version: u64,
}

/// Where the app's last rolling update stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutStatus {
    /// `in_progress`, `done` or `reverted`.
    pub state: String,
    /// The version being (or that was) rolled out.
    pub version: u64,
    /// Instances on the target version and healthy, of `instances` wanted.
    pub updated: u32,
    /// For a reverted rollout: the version the app went back to, why, and which node said.
    #[serde(default)]
    pub reverted_to: Option<u64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reverted_by: Option<String>,
}

/// Where one instance of an app answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceLocation {
    /// Node id of the host.
    pub node: String,
    /// The host's advertise address.
    pub ip: String,
    /// Host ports the app publishes.
    pub ports: Vec<u16>,
    /// `ip:port` for each port (`[ip]:port` for IPv6).
    pub addresses: Vec<String>,
    /// When this node received the host's latest running report for the app, unix ms
    /// (0 when unknown). FluxOS's `broadcastedAt` is built from it.
    #[serde(default)]
    pub reported_at_ms: u64,
    /// The uptime the host claims in its latest announcement, seconds (FluxOS's
    /// `osUptime`); 0 when unknown.
    #[serde(default)]
    pub host_uptime_secs: u64,
    /// The instance's health as its host's probes report it (`starting`, `healthy`,
    /// `unhealthy`). Traffic belongs on `healthy` ones.
    #[serde(default = "starting")]
    pub health: proto::health::Health,
}

/// A connected peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub id: String,
    /// Multiaddrs the peer is connected on or announced.
    pub addresses: Vec<String>,
    /// Gossip topics the peer subscribes to.
    pub topics: Vec<String>,
    pub gossip_score: Option<f64>,
}

/// `GET /readyz`: ready when every check passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyStatus {
    pub ready: bool,
    pub checks: Vec<ReadyCheck>,
}

/// One readiness check (`docker`, `store`, `peers`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Body of every error response (4xx, 5xx).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for a program (`code`, `field`) and for a person (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable kind: `bad_request`, `not_found`, `conflict`, `forbidden`,
    /// `unavailable`, `internal`, `payload_too_large`, `method_not_allowed`.
    pub code: String,
    /// The request field at fault, as a path (`action.spec_json`, `compose[0].cpu`,
    /// `name`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn starting() -> proto::health::Health {
    proto::health::Health::Starting
}
