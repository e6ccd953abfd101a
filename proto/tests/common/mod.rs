//! proptest strategies for every protocol message, shared by the wire tests.
//!
//! Generated messages are well-formed (they pass `Message::check`), so the same strategies
//! serve round-trip tests and end-to-end receive tests.
#![allow(dead_code)]

use proptest::collection::{btree_map, btree_set};
use proptest::prelude::*;
use proto::geo::Location;
use proto::health::Health;
use proto::keys::{Keypair, NodeId};
use proto::message::{
    AppCancel, AppRegistration, AppRenewal, AppUpdate, Assignment, BeatStatus, Bid, BucketDigest,
    CallForBids, Decline, GroupBeat, LEDGER_BUCKETS, LedgerSummary, MemberGone, Message,
    NodeAnnouncement, OwnerSigned, RestartWindow, RolloutReverted, RunningApp, RunningReport,
    SpecHash, Stop, UpdateOrder,
};
use proto::tier::{Resources, Tier};

pub fn keypair() -> impl Strategy<Value = Keypair> {
    any::<[u8; 32]>().prop_map(|seed| Keypair::from_seed(&seed))
}

pub fn node_id() -> impl Strategy<Value = NodeId> {
    keypair().prop_map(|k| k.public())
}

pub fn app_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,31}"
}

pub fn tier() -> impl Strategy<Value = Tier> {
    prop::sample::select(Tier::ALL.to_vec())
}

pub fn location() -> impl Strategy<Value = Location> {
    "[A-Z]{2}(_[A-Z]{2}(_[A-Z][a-z]{0,10}(_[A-Z][a-z]{0,6})?)?)?"
        .prop_map(|s| Location::parse(&s).expect("generated location parses"))
}

pub fn resources() -> impl Strategy<Value = Resources> {
    (0.0f64..1024.0, any::<u64>(), any::<u64>()).prop_map(|(cpu, ram, hdd)| Resources {
        cpu,
        ram,
        hdd,
    })
}

pub fn restart_window() -> impl Strategy<Value = Option<RestartWindow>> {
    prop::option::of(
        (
            0u64..u64::MAX / 2,
            0u64..=proto::message::MAX_RESTART_WINDOW_MS,
        )
            .prop_map(|(from_ms, len)| RestartWindow {
                from_ms,
                until_ms: from_ms + len,
            }),
    )
}

pub fn announcement() -> impl Strategy<Value = NodeAnnouncement> {
    (
        (node_id(), any::<u64>(), tier(), location()),
        (resources(), resources(), 0.0f64..1e6, any::<u64>()),
        (
            "/ip4/[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}/tcp/[0-9]{1,5}",
            restart_window(),
            "[0-9a-f]{16}",
        ),
    )
        .prop_map(
            |(
                (node, seq, tier, location),
                (total, used, bench_score, claimed_uptime_secs),
                (advertise_addr, planned_restart, network),
            )| NodeAnnouncement {
                node,
                seq,
                tier,
                location,
                total,
                used,
                bench_score,
                claimed_uptime_secs,
                advertise_addr,
                planned_restart,
                network,
            },
        )
}

/// Any non-empty Unicode text, including JSON-hostile characters: the spec travels as
/// exact bytes whatever it contains.
pub fn spec_json() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{1,300}",
        app_name().prop_map(|n| format!(r#"{{"version":8,"name":"{n}","owner":"x"}}"#)),
    ]
}

pub fn registration() -> impl Strategy<Value = OwnerSigned<AppRegistration>> {
    (keypair(), any::<u64>(), spec_json(), any::<u64>()).prop_map(
        |(owner, at, spec_json, registered_height)| {
            OwnerSigned::sign(
                &owner,
                at,
                AppRegistration {
                    spec_json,
                    registered_height,
                },
            )
        },
    )
}

pub fn renewal() -> impl Strategy<Value = OwnerSigned<AppRenewal>> {
    (
        keypair(),
        any::<u64>(),
        app_name(),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|(owner, at, app, renewed_height, expire_blocks)| {
            OwnerSigned::sign(
                &owner,
                at,
                AppRenewal {
                    app,
                    renewed_height,
                    expire_blocks,
                },
            )
        })
}

pub fn update() -> impl Strategy<Value = OwnerSigned<AppUpdate>> {
    (keypair(), any::<u64>(), spec_json(), any::<u64>()).prop_map(
        |(owner, at, spec_json, updated_height)| {
            OwnerSigned::sign(
                &owner,
                at,
                AppUpdate {
                    spec_json,
                    updated_height,
                },
            )
        },
    )
}

pub fn update_order() -> impl Strategy<Value = UpdateOrder> {
    (app_name(), node_id(), node_id(), any::<u64>()).prop_map(
        |(app, coordinator, node, version)| UpdateOrder {
            app,
            coordinator,
            node,
            version,
        },
    )
}

pub fn rollout_reverted() -> impl Strategy<Value = RolloutReverted> {
    (
        app_name(),
        any::<u64>(),
        any::<u64>(),
        node_id(),
        "[ -~]{0,80}",
    )
        .prop_map(|(app, version, good, by, reason)| RolloutReverted {
            app,
            version,
            good,
            by,
            reason,
        })
}

pub fn cancel() -> impl Strategy<Value = OwnerSigned<AppCancel>> {
    (keypair(), any::<u64>(), app_name())
        .prop_map(|(owner, at, app)| OwnerSigned::sign(&owner, at, AppCancel { app }))
}

pub fn bid() -> impl Strategy<Value = Bid> {
    (app_name(), any::<u64>(), node_id(), resources()).prop_map(|(app, round, node, offered)| Bid {
        app,
        round,
        node,
        offered,
    })
}

pub fn assignment() -> impl Strategy<Value = Assignment> {
    // Distinct seeds give distinct keys, so winners are unique as the protocol requires.
    (
        app_name(),
        any::<u64>(),
        node_id(),
        btree_set(any::<[u8; 32]>(), 0..12),
    )
        .prop_map(|(app, round, coordinator, seeds)| Assignment {
            app,
            round,
            coordinator,
            winners: seeds
                .iter()
                .map(|s| Keypair::from_seed(s).public())
                .collect(),
        })
}

pub fn running_report() -> impl Strategy<Value = RunningReport> {
    (node_id(), btree_map(app_name(), any::<[u8; 32]>(), 0..12)).prop_map(|(node, apps)| {
        RunningReport {
            node,
            apps: apps
                .into_iter()
                .map(|(app, hash)| RunningApp {
                    health: [Health::Starting, Health::Healthy, Health::Unhealthy]
                        [hash[0] as usize % 3],
                    app,
                    spec_hash: SpecHash(hash),
                    version: u64::from(hash[1]),
                })
                .collect(),
        }
    })
}

pub fn call_for_bids() -> impl Strategy<Value = CallForBids> {
    (app_name(), any::<u64>(), node_id(), any::<u64>()).prop_map(
        |(app, round, coordinator, deadline_ms)| CallForBids {
            app,
            round,
            coordinator,
            deadline_ms,
        },
    )
}

pub fn decline() -> impl Strategy<Value = Decline> {
    (app_name(), any::<u64>(), node_id()).prop_map(|(app, round, node)| Decline {
        app,
        round,
        node,
    })
}

pub fn group_beat() -> impl Strategy<Value = GroupBeat> {
    (
        app_name(),
        node_id(),
        prop_oneof![
            Just(BeatStatus::Starting),
            Just(BeatStatus::Running),
            Just(BeatStatus::Leaving)
        ],
        proptest::option::of(any::<u64>()),
        health(),
        any::<u64>(),
    )
        .prop_map(
            |(app, node, status, restart_until_ms, health, version)| GroupBeat {
                app,
                node,
                status,
                restart_until_ms,
                health,
                version,
            },
        )
}

pub fn health() -> impl Strategy<Value = Health> {
    prop_oneof![
        Just(Health::Starting),
        Just(Health::Healthy),
        Just(Health::Unhealthy)
    ]
}

pub fn member_gone() -> impl Strategy<Value = MemberGone> {
    (app_name(), node_id(), node_id()).prop_map(|(app, node, by)| MemberGone { app, node, by })
}

pub fn stop() -> impl Strategy<Value = Stop> {
    (app_name(), node_id(), node_id()).prop_map(|(app, coordinator, node)| Stop {
        app,
        coordinator,
        node,
    })
}

pub fn ledger_summary() -> impl Strategy<Value = LedgerSummary> {
    (
        node_id(),
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec(
            (any::<u32>(), any::<u64>()).prop_map(|(count, xor)| BucketDigest { count, xor }),
            LEDGER_BUCKETS,
        ),
    )
        .prop_map(|(node, count, xor, buckets)| LedgerSummary {
            node,
            count,
            xor,
            buckets,
        })
}

pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        announcement().prop_map(Message::Announcement),
        registration().prop_map(Message::AppRegistration),
        renewal().prop_map(Message::AppRenewal),
        cancel().prop_map(Message::AppCancel),
        bid().prop_map(Message::Bid),
        assignment().prop_map(Message::Assignment),
        running_report().prop_map(Message::RunningReport),
        call_for_bids().prop_map(Message::CallForBids),
        decline().prop_map(Message::Decline),
        group_beat().prop_map(Message::GroupBeat),
        stop().prop_map(Message::Stop),
        ledger_summary().prop_map(Message::LedgerSummary),
        member_gone().prop_map(Message::MemberGone),
        update().prop_map(Message::AppUpdate),
        update_order().prop_map(Message::UpdateOrder),
        rollout_reverted().prop_map(Message::RolloutReverted),
    ]
}

/// Makes `key` the node the message names, so `key` is the signer `receive` expects.
pub fn sent_by(mut message: Message, key: &Keypair) -> Message {
    match &mut message {
        Message::Announcement(m) => m.node = key.public(),
        Message::Bid(m) => m.node = key.public(),
        Message::Assignment(m) => m.coordinator = key.public(),
        Message::RunningReport(m) => m.node = key.public(),
        Message::CallForBids(m) => m.coordinator = key.public(),
        Message::Decline(m) => m.node = key.public(),
        Message::GroupBeat(m) => m.node = key.public(),
        Message::Stop(m) => m.coordinator = key.public(),
        Message::LedgerSummary(m) => m.node = key.public(),
        Message::MemberGone(m) => m.by = key.public(),
        Message::UpdateOrder(m) => m.coordinator = key.public(),
        Message::RolloutReverted(m) => m.by = key.public(),
        Message::AppRegistration(_)
        | Message::AppRenewal(_)
        | Message::AppCancel(_)
        | Message::AppUpdate(_) => {}
    }
    message
}
