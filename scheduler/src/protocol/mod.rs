//! The placement protocol as a sans-I/O state machine: [`Node::handle`] takes one input
//! (a received message, a timer, a container event) and the time, and returns what to do
//! (messages to send, containers to start or stop, records to persist, when to wake up).
//! The daemon drives it with libp2p, Docker and a clock; `sim` drives thousands of them
//! over a simulated network. See `docs/protocol.md` for the design and its reasons.
//!
//! Two replicated ledgers live outside the per-node machine, in a [`View`]: the
//! membership (node announcements) and the app registry (owner-signed register / renew /
//! cancel, plus running reports). Every node needs the same content in them and the
//! per-app protocol only reads them, so a daemon keeps one `View` per node while the
//! simulator shares one among all nodes (10,000 private copies of a 10,000-entry view
//! would cost 10⁸ entries for no extra fidelity: announcements reach every node within a
//! latency either way).
//!
//! The peer handle `P` is generic: the daemon uses [`proto::keys::NodeId`], the
//! simulator dense `u32` indices, so broadcast fan-out costs a loop, not a hash lookup.

mod check;
mod early;
mod group;
mod msg;
mod node;
mod rollout;
mod round;
pub mod standing;
mod view;

pub use check::CheckError;
pub use msg::{BeatStatus, Health, Msg};
pub use node::{Input, Node, NodeConfig, Output, PersistRecord};
pub use rollout::RolloutPolicy;
pub use standing::Strikes;
pub use view::{AppEntry, AppRecord, ChainClock, Member, Reverted, View};

use std::fmt::{Debug, Display};

/// Milliseconds on the caller's clock (unix time in the daemon, simulated time in the sim).
pub type Millis = u64;

/// What a peer handle must offer: cheap copies, a total order for deterministic maps, and a
/// text form for the scheduler (whose node ids are strings) and for logs.
pub trait Peer: Copy + Ord + Debug + Display {}
impl<T: Copy + Ord + Debug + Display> Peer for T {}

/// Group heartbeat period. 5 s: failure detection within 20 s (see [`DEAD_AFTER`]) while
/// a 12-instance group costs 12 × 11 / 5 ≈ 26 messages/s, independent of network size.
pub const BEAT_EVERY: Millis = 5_000;

/// A member missing three beats is suspected; four (20 s) and it is dead for the group.
/// A node late once, or even twice, is never replaced.
pub const SUSPECT_AFTER: Millis = 3 * BEAT_EVERY;
pub const DEAD_AFTER: Millis = 4 * BEAT_EVERY;

/// Dead members stay in the group map (and keep receiving beats) this long, so the two
/// halves of a healed partition find each other again. 10 min covers the partitions the
/// requirements name (5 min) with room.
pub const FORGET_AFTER: Millis = 600_000;

/// A member that said goodbye is not revived by a beat arriving within this long (beats
/// sent just before leaving can overtake the goodbye by up to one latency jitter; two
/// beat periods is ample).
pub const LEFT_MEMORY: Millis = 2 * BEAT_EVERY;

/// Bid window of a round: call out, bids back, one round trip at the 100 ms one-way
/// latency the requirements assume plus a margin for a slow peer.
pub const ROUND_WINDOW: Millis = 800;

/// A bidder holds its reservation this long past the round deadline, so the assignment
/// (one more one-way trip) and one resend (see [`ACK_WAIT`]) reach it while it still holds
/// the capacity. After that it lapses: no capacity stays reserved by a lost bid.
pub const RESERVE_SLACK: Millis = 1_500;

/// The coordinator resends an assignment to a winner whose first beat has not arrived
/// this long after the assignment went out (one round trip plus margin).
pub const ACK_WAIT: Millis = 600;

/// A round that produced no winner is retried after this pause.
pub const RETRY_AFTER: Millis = 3_000;

/// A called node that neither bid nor declined is skipped by this coordinator's calls for
/// this long (it may be dead or partitioned away).
pub const UNRESPONSIVE_FOR: Millis = 60_000;

/// A winner counts as a member from its assignment on; if it has not beaten within this
/// long it is treated as dead (image pulls can be slow; sim starts take ≤ 5 s).
pub const START_GRACE: Millis = 30_000;

/// Backup `k` (1, 2) of a new app's home takes over when it has seen no assignment
/// `k × TAKEOVER_AFTER` after the registration reached it.
pub const TAKEOVER_AFTER: Millis = 5_000;

/// How many nodes after the home, in rendezvous order, stand by as backups.
pub const BACKUPS: usize = 2;

/// Periodic node announcement (membership and free capacity).
pub const ANNOUNCE_EVERY: Millis = 300_000;

/// A change of hosted instances is announced at most this often. Short, because
/// coordinators choose whom to call from announced capacity: a full node that stays
/// advertised as free draws calls it can only decline. Hosting changes are rare (a few
/// per node per hour), so this costs little; reservations are not announced (they last
/// about a second).
pub const ANNOUNCE_MIN_GAP: Millis = 5_000;

/// A node is dead in the membership view after three missed announcements.
pub const MEMBER_DEAD_AFTER: Millis = 3 * ANNOUNCE_EVERY;

/// A peer whose last connection closed and that has not come back within this long is
/// taken for dead in the membership view ([`View::member_unreachable`]) instead of after
/// [`MEMBER_DEAD_AFTER`]: a closed connection is noticed within 15 s (5 s pings, 10 s
/// timeout), so a dead host leaves the view about a minute after it died, and an app
/// whose whole group died becomes an orphan then rather than 15 minutes later. 30 s
/// leaves a crashed daemon time to be restarted (systemd's `RestartSec=5s`, then a start
/// with its benchmark cached) and reconnect; a planned restart is exempt
/// (`restart_until`). At 45 s, whole-group loss on `scripts/scale.sh 20` took 71 s, over
/// the 60 s bound, with container starts on its one shared engine taking 10–20 s.
pub const UNREACHABLE_AFTER: Millis = 30_000;

/// A node that declined an app is not called for it again by the same coordinator for
/// this long (a minute: long enough for its announcement to show its real free capacity).
pub const DECLINE_MEMORY: Millis = 60_000;

/// A host that gave up an instance ([`Input::GiveUp`]: still unhealthy after its restarts,
/// or crash-looping) does not bid for that app again for this long. The fault is often the
/// host's (a full disk, a broken image cache, a port another program grabbed, a flaky
/// NIC), and the app is re-placed on another node within seconds; 10 minutes is long
/// enough that the coordinator's next rounds go elsewhere (its decline memory is only
/// [`DECLINE_MEMORY`]) yet short enough that a host fixed by its operator, or an app that
/// can only fit here, is not locked out for long.
pub const GIVE_UP_HOLD_OFF: Millis = 600_000;

/// A host whose start of an app failed does not bid for that app again for this long, so
/// the coordinator's next rounds (every [`RETRY_AFTER`]) go to other nodes. Half a minute:
/// a failure that is the host's (no free app subnet, a port another program holds) would
/// otherwise be repeated every round, and a transient one (a registry that refused one
/// pull) on a network with no other room costs at most this long. Shorter than
/// [`GIVE_UP_HOLD_OFF`]: a failed start took nothing from anyone; a given-up instance was
/// serving and may fail again after serving a while.
pub const FAILED_START_HOLD_OFF: Millis = 30_000;

/// Internal tick period: timers below are checked at this granularity.
pub const TICK: Millis = 1_000;

/// How many candidates a round calls for `missing` instances: twice as many plus two, so
/// a few declines, dead nodes and lost messages still leave enough bids.
pub fn shortlist_len(missing: usize) -> usize {
    2 * missing + 2
}

/// 64-bit mix (splitmix64 finaliser): rendezvous scores from precomputed app and node
/// hashes, so ranking 10,000 nodes for an app costs 10,000 multiplies, not SHA-256 runs.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// First 8 bytes of SHA-256 of `s`: a stable, platform-independent hash of a name.
pub fn name_hash(s: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(s.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// Rendezvous score of a node for an app: higher is preferred.
pub fn rendezvous(app_hash: u64, node_hash: u64) -> u64 {
    mix64(app_hash ^ mix64(node_hash))
}
