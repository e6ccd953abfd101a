//! decode(encode(m)) == m for every message type, in both encodings and through the full
//! seal → frame → receive path.

mod common;

use common::*;
use proptest::prelude::*;
use proto::encoding::{decode, decode_message, encode, encode_message, publish_bytes, receive};
use proto::envelope::Envelope;
use proto::keys::Keypair;
use proto::message::Message;

const NOW: u64 = 1_800_000_000_000;

fn postcard_round_trip(m: &Message) {
    let bytes = encode_message(m).unwrap();
    assert_eq!(&decode_message(&bytes).unwrap(), m);
}

fn json_round_trip(m: &Message) {
    let json = serde_json::to_string(m).unwrap();
    let back: Message = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, m, "{json}");
}

macro_rules! round_trip_each_type {
    ($($name:ident: $strategy:expr => $variant:path;)*) => {
        proptest! {
            $(
                #[test]
                fn $name(inner in $strategy) {
                    let m = $variant(inner);
                    postcard_round_trip(&m);
                    json_round_trip(&m);
                    m.check().unwrap();
                }
            )*
        }
    };
}

round_trip_each_type! {
    announcement_round_trips: announcement() => Message::Announcement;
    registration_round_trips: registration() => Message::AppRegistration;
    renewal_round_trips: renewal() => Message::AppRenewal;
    cancel_round_trips: cancel() => Message::AppCancel;
    bid_round_trips: bid() => Message::Bid;
    assignment_round_trips: assignment() => Message::Assignment;
    running_report_round_trips: running_report() => Message::RunningReport;
    call_for_bids_round_trips: call_for_bids() => Message::CallForBids;
    decline_round_trips: decline() => Message::Decline;
    group_beat_round_trips: group_beat() => Message::GroupBeat;
    stop_round_trips: stop() => Message::Stop;
    ledger_summary_round_trips: ledger_summary() => Message::LedgerSummary;
    member_gone_round_trips: member_gone() => Message::MemberGone;
}

proptest! {
    #[test]
    fn envelope_frame_round_trips(
        seed in any::<[u8; 32]>(),
        ts in any::<u64>(),
        payload in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let env = Envelope::sign(&Keypair::from_seed(&seed), ts, payload);
        let bytes = encode(&env);
        prop_assert_eq!(decode(&bytes).unwrap(), env.clone());
        let json = serde_json::to_string(&env).unwrap();
        prop_assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), env);
    }

    #[test]
    fn every_message_survives_publish_and_receive(m in message(), key in keypair()) {
        let m = sent_by(m, &key);
        let bytes = publish_bytes(&key, NOW, &m).unwrap();
        let opened = receive(&bytes, m.topic(), NOW).unwrap();
        prop_assert_eq!(opened.signer, key.public());
        prop_assert_eq!(opened.timestamp_ms, NOW);
        prop_assert_eq!(opened.message, m);
    }
}
