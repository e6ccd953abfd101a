//! The protocol's messages ([`Msg`] over [`NodeId`]) to and from the signed wire types of
//! `proto::message`.
//!
//! Most messages map field for field. Three need the daemon's state:
//! - a node announcement carries the node's fixed facts (tier, location, size, score,
//!   address), which the protocol's `Announce` leaves out;
//! - a running report lists every app a node runs, where the protocol speaks of one app at
//!   a time: the sender sends its whole list, the receiver turns the difference with the
//!   previous list into per-app `Running` messages ([`super::members::Members`]);
//! - owner actions travel as the owner signed them, so they come from the registry.

use std::sync::Arc;

use proto::keys::NodeId;
use proto::message::{
    Assignment, BeatStatus as WireBeat, Bid, CallForBids, Decline, GroupBeat, MemberGone, Message,
    NodeAnnouncement, RestartWindow, RolloutReverted, Stop, UpdateOrder,
};
use proto::tier::Resources;
use scheduler::protocol::{BeatStatus, Millis, Msg};

/// The facts of this node an announcement carries besides what the protocol says.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfFacts {
    pub tier: proto::tier::Tier,
    pub location: proto::geo::Location,
    /// Capacity offered to apps (after the system reserve).
    pub offered: Resources,
    pub bench_score: f64,
    pub advertise_addr: String,
    /// The network id this node runs by ([`super::trust::network_id`]).
    pub network: String,
    /// `node.testnet_capacity_scale` (1 outside tests).
    pub capacity_scale: f64,
}

/// Builds this node's announcement from the protocol's `Announce`.
pub fn announcement(
    msg: &Msg<NodeId>,
    facts: &SelfFacts,
    now: Millis,
    uptime_secs: u64,
) -> Option<NodeAnnouncement> {
    let Msg::Announce {
        node,
        used_milli_cpu,
        used_ram_mb,
        used_hdd_gb,
        restart_until,
    } = msg
    else {
        return None;
    };
    Some(NodeAnnouncement {
        node: *node,
        // Unix milliseconds: increasing across restarts without storing a counter.
        seq: now,
        tier: facts.tier,
        location: facts.location.clone(),
        total: facts.offered,
        used: Resources::new(*used_milli_cpu as f64 / 1_000.0, *used_ram_mb, *used_hdd_gb),
        bench_score: facts.bench_score,
        claimed_uptime_secs: uptime_secs,
        advertise_addr: facts.advertise_addr.clone(),
        planned_restart: restart_until.map(|until| RestartWindow {
            from_ms: now.min(until),
            until_ms: until,
        }),
        network: facts.network.clone(),
    })
}

/// The protocol's `Announce` for a received announcement.
pub fn announce_msg(a: &NodeAnnouncement) -> Msg<NodeId> {
    Msg::Announce {
        node: a.node,
        used_milli_cpu: (a.used.cpu * 1_000.0).round().max(0.0) as u64,
        used_ram_mb: a.used.ram,
        used_hdd_gb: a.used.hdd,
        restart_until: a.planned_restart.map(|w| w.until_ms),
    }
}

fn beat_to_wire(s: BeatStatus) -> WireBeat {
    match s {
        BeatStatus::Starting => WireBeat::Starting,
        BeatStatus::Running => WireBeat::Running,
        BeatStatus::Leaving => WireBeat::Leaving,
    }
}

fn beat_from_wire(s: WireBeat) -> BeatStatus {
    match s {
        WireBeat::Starting => BeatStatus::Starting,
        WireBeat::Running => BeatStatus::Running,
        WireBeat::Leaving => BeatStatus::Leaving,
    }
}

/// The wire form of a placement message (the ones sent to named peers). `offered` is what
/// one instance of the app needs, quoted in bids. Ledger messages return `None`: they are
/// built by the daemon from its own state.
pub fn placement_to_wire(msg: &Msg<NodeId>, offered: Resources) -> Option<Message> {
    Some(match msg {
        Msg::CallForBids {
            app,
            round,
            coordinator,
            deadline,
        } => Message::CallForBids(CallForBids {
            app: app.to_string(),
            round: *round,
            coordinator: *coordinator,
            deadline_ms: *deadline,
        }),
        Msg::Bid { app, round, node } => Message::Bid(Bid {
            app: app.to_string(),
            round: *round,
            node: *node,
            offered,
        }),
        Msg::Decline { app, round, node } => Message::Decline(Decline {
            app: app.to_string(),
            round: *round,
            node: *node,
        }),
        Msg::Assignment {
            app,
            round,
            coordinator,
            group,
        } => Message::Assignment(Assignment {
            app: app.to_string(),
            round: *round,
            coordinator: *coordinator,
            winners: group.to_vec(),
        }),
        Msg::Beat {
            app,
            node,
            status,
            restart_until,
            health,
            version,
        } => Message::GroupBeat(GroupBeat {
            app: app.to_string(),
            node: *node,
            status: beat_to_wire(*status),
            restart_until_ms: *restart_until,
            health: *health,
            version: *version,
        }),
        Msg::Move {
            app,
            coordinator,
            node,
            version,
        } => Message::UpdateOrder(UpdateOrder {
            app: app.to_string(),
            coordinator: *coordinator,
            node: *node,
            version: *version,
        }),
        Msg::Reverted {
            app,
            version,
            good,
            by,
            reason,
        } => Message::RolloutReverted(RolloutReverted {
            app: app.to_string(),
            version: *version,
            good: *good,
            by: *by,
            reason: clip(reason, proto::message::MAX_REASON_LEN),
        }),
        Msg::Gone { app, node, by } => Message::MemberGone(MemberGone {
            app: app.to_string(),
            node: *node,
            by: *by,
        }),
        Msg::Stop {
            app,
            coordinator,
            node,
        } => Message::Stop(Stop {
            app: app.to_string(),
            coordinator: *coordinator,
            node: *node,
        }),
        Msg::Register(_)
        | Msg::Renew { .. }
        | Msg::Cancel { .. }
        | Msg::Update(_)
        | Msg::Announce { .. }
        | Msg::Running { .. } => return None,
    })
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The protocol form of a received placement message; `None` for the other kinds.
pub fn placement_from_wire(message: &Message) -> Option<Msg<NodeId>> {
    let name = |s: &str| -> Arc<str> { Arc::from(s) };
    Some(match message {
        Message::CallForBids(m) => Msg::CallForBids {
            app: name(&m.app),
            round: m.round,
            coordinator: m.coordinator,
            deadline: m.deadline_ms,
        },
        Message::Bid(m) => Msg::Bid {
            app: name(&m.app),
            round: m.round,
            node: m.node,
        },
        Message::Decline(m) => Msg::Decline {
            app: name(&m.app),
            round: m.round,
            node: m.node,
        },
        Message::Assignment(m) => Msg::Assignment {
            app: name(&m.app),
            round: m.round,
            coordinator: m.coordinator,
            group: Arc::from(m.winners.as_slice()),
        },
        Message::GroupBeat(m) => Msg::Beat {
            app: name(&m.app),
            node: m.node,
            status: beat_from_wire(m.status),
            restart_until: m.restart_until_ms,
            health: m.health,
            version: m.version,
        },
        Message::UpdateOrder(m) => Msg::Move {
            app: name(&m.app),
            coordinator: m.coordinator,
            node: m.node,
            version: m.version,
        },
        Message::RolloutReverted(m) => Msg::Reverted {
            app: name(&m.app),
            version: m.version,
            good: m.good,
            by: m.by,
            reason: name(&m.reason),
        },
        Message::MemberGone(m) => Msg::Gone {
            app: name(&m.app),
            node: m.node,
            by: m.by,
        },
        Message::Stop(m) => Msg::Stop {
            app: name(&m.app),
            coordinator: m.coordinator,
            node: m.node,
        },
        Message::Announcement(_)
        | Message::AppRegistration(_)
        | Message::AppRenewal(_)
        | Message::AppCancel(_)
        | Message::AppUpdate(_)
        | Message::RunningReport(_)
        | Message::LedgerSummary(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::keys::Keypair;

    fn id(seed: u8) -> NodeId {
        Keypair::from_seed(&[seed; 32]).public()
    }

    #[test]
    fn placement_messages_round_trip() {
        let app: Arc<str> = Arc::from("web");
        let msgs = vec![
            Msg::CallForBids {
                app: app.clone(),
                round: 3,
                coordinator: id(1),
                deadline: 99,
            },
            Msg::Bid {
                app: app.clone(),
                round: 3,
                node: id(2),
            },
            Msg::Decline {
                app: app.clone(),
                round: 3,
                node: id(2),
            },
            Msg::Assignment {
                app: app.clone(),
                round: 3,
                coordinator: id(1),
                group: Arc::from(vec![id(2), id(3)].as_slice()),
            },
            Msg::Beat {
                app: app.clone(),
                node: id(2),
                status: BeatStatus::Running,
                restart_until: Some(5),
                health: proto::health::Health::Healthy,
                version: 7,
            },
            Msg::Move {
                app: app.clone(),
                coordinator: id(1),
                node: id(2),
                version: 8,
            },
            Msg::Reverted {
                app: app.clone(),
                version: 8,
                good: 7,
                by: id(1),
                reason: Arc::from("not healthy"),
            },
            Msg::Gone {
                app: app.clone(),
                node: id(3),
                by: id(1),
            },
            Msg::Stop {
                app,
                coordinator: id(1),
                node: id(3),
            },
        ];
        for m in msgs {
            let wire = placement_to_wire(&m, Resources::new(0.5, 100, 1)).unwrap();
            assert_eq!(wire.topic(), m.topic(), "{m:?}");
            assert_eq!(placement_from_wire(&wire).unwrap(), m);
        }
    }

    #[test]
    fn announcement_carries_facts_and_use() {
        let facts = SelfFacts {
            tier: proto::tier::Tier::Nimbus,
            location: proto::geo::Location::parse("EU_DE_HE").unwrap(),
            offered: Resources::new(4.0, 8_000, 100),
            bench_score: 900.0,
            advertise_addr: "/ip4/127.0.0.1/tcp/16125".into(),
            network: "abc".into(),
            capacity_scale: 1.0,
        };
        let msg = Msg::Announce {
            node: id(1),
            used_milli_cpu: 1_500,
            used_ram_mb: 300,
            used_hdd_gb: 2,
            restart_until: Some(2_000),
        };
        let a = announcement(&msg, &facts, 1_000, 42).unwrap();
        assert_eq!(a.used, Resources::new(1.5, 300, 2));
        assert_eq!(a.seq, 1_000);
        assert_eq!(a.planned_restart.unwrap().until_ms, 2_000);
        assert_eq!(announce_msg(&a), msg);
        assert!(placement_to_wire(&msg, Resources::default()).is_none());
    }
}
