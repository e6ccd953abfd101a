//! Everything a node must drop is dropped, each with its own error: flipped bytes,
//! forged, stale, future, oversized, wrong sender, forged owner, wrong topic.

mod common;

use common::*;
use proptest::prelude::*;
use proto::encoding::{
    DecodeError, ReceiveError, SealError, decode, encode, encode_message, open, publish_bytes,
    receive, seal,
};
use proto::envelope::{
    Envelope, EnvelopeError, MAX_AGE_MS, MAX_ENVELOPE_BYTES, MAX_FUTURE_MS, MAX_PAYLOAD_BYTES,
};
use proto::keys::Keypair;
use proto::message::{AppCancel, AppRegistration, Bid, Message, MessageError, OwnerSigned, Topic};
use proto::tier::Resources;

const NOW: u64 = 1_800_000_000_000;

fn key(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32])
}

fn bid_from(node: &Keypair) -> Message {
    Message::Bid(Bid {
        app: "web".into(),
        round: 1,
        node: node.public(),
        offered: Resources::new(1.0, 1000, 10),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any single byte of an encoded, signed envelope, changed in any way, makes the frame
    /// undecodable or the envelope fail verification.
    #[test]
    fn any_flipped_byte_is_rejected(
        m in message(),
        k in keypair(),
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let m = sent_by(m, &k);
        let mut bytes = publish_bytes(&k, NOW, &m).unwrap();
        let at = position.index(bytes.len());
        bytes[at] ^= mask;
        match decode(&bytes) {
            Err(_) => {}
            Ok(env) => prop_assert!(
                env.verify(NOW).is_err(),
                "byte {} ^ {:#04x} of {} still verifies", at, mask, bytes.len()
            ),
        }
        prop_assert!(receive(&bytes, m.topic(), NOW).is_err());
    }
}

#[test]
fn stale_future_forged_oversized_are_distinct() {
    let k = key(1);
    let m = bid_from(&k);
    let env = seal(&k, NOW, &m).unwrap();

    let stale = open(&env, NOW + MAX_AGE_MS + 1).unwrap_err();
    assert!(matches!(
        stale,
        ReceiveError::Envelope(EnvelopeError::Stale { .. })
    ));
    assert_eq!(stale.reason(), "stale");
    assert!(
        open(&env, NOW + MAX_AGE_MS).is_ok(),
        "exactly 5 minutes old is accepted"
    );

    let future = open(&env, NOW - MAX_FUTURE_MS - 1).unwrap_err();
    assert!(matches!(
        future,
        ReceiveError::Envelope(EnvelopeError::Future { .. })
    ));
    assert_eq!(future.reason(), "future");
    assert!(
        open(&env, NOW - MAX_FUTURE_MS).is_ok(),
        "exactly 2 minutes ahead is accepted"
    );

    // Signed by key 1, presented as key 2's.
    let forged = Envelope {
        signer: key(2).public().to_bytes(),
        ..env.clone()
    };
    let err = open(&forged, NOW).unwrap_err();
    assert!(matches!(
        err,
        ReceiveError::Envelope(EnvelopeError::Forged { .. })
    ));
    assert_eq!(err.reason(), "forged");

    let big = Envelope::sign(&k, NOW, vec![0; MAX_PAYLOAD_BYTES + 1]);
    let err = open(&big, NOW).unwrap_err();
    assert!(matches!(
        err,
        ReceiveError::Envelope(EnvelopeError::Oversized { .. })
    ));
    assert_eq!(err.reason(), "oversized");
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    // Not even a valid frame: the size check must come first and say so.
    let junk = vec![0xffu8; MAX_ENVELOPE_BYTES + 1];
    assert_eq!(
        decode(&junk),
        Err(DecodeError::TooLarge {
            size: MAX_ENVELOPE_BYTES + 1,
            max: MAX_ENVELOPE_BYTES
        })
    );
    let at_limit = Envelope::sign(&key(1), NOW, vec![7; MAX_PAYLOAD_BYTES]);
    let bytes = encode(&at_limit);
    assert_eq!(bytes.len(), MAX_ENVELOPE_BYTES);
    assert_eq!(decode(&bytes).unwrap(), at_limit);
}

#[test]
fn frame_errors_name_what_is_wrong() {
    let bytes = encode(&Envelope::sign(&key(1), NOW, b"abc".to_vec()));
    assert!(matches!(
        decode(&bytes[..50]),
        Err(DecodeError::Truncated { .. })
    ));
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(decode(&v2), Err(DecodeError::UnknownVersion(2)));
    let mut longer = bytes.clone();
    longer.insert(45, 0);
    assert!(matches!(
        decode(&longer),
        Err(DecodeError::LengthMismatch {
            declared: 3,
            actual: 4
        })
    ));
    assert!(decode(&[]).is_err());
}

#[test]
fn seal_refuses_messages_that_do_not_fit() {
    let owner = key(5);
    let reg = OwnerSigned::sign(
        &owner,
        NOW,
        AppRegistration {
            spec_json: "x".repeat(MAX_PAYLOAD_BYTES),
            registered_height: 1,
        },
    );
    let err = seal(&key(1), NOW, &Message::AppRegistration(reg)).unwrap_err();
    assert!(matches!(err, SealError::TooLarge { .. }), "{err}");
}

#[test]
fn node_messages_must_be_signed_by_the_node_they_name() {
    let bid = bid_from(&key(1));
    let bytes = publish_bytes(&key(2), NOW, &bid).unwrap();
    let err = receive(&bytes, Topic::Bids, NOW).unwrap_err();
    assert!(
        matches!(err, ReceiveError::SenderMismatch { field: "node", .. }),
        "{err}"
    );
    assert_eq!(err.reason(), "sender_mismatch");
}

#[test]
fn owner_actions_relay_through_any_node_but_need_the_owner_signature() {
    let owner = key(7);
    let relay = key(8);
    let cancel = OwnerSigned::sign(&owner, NOW - 86_400_000, AppCancel { app: "web".into() });
    let bytes = publish_bytes(&relay, NOW, &Message::AppCancel(cancel.clone())).unwrap();
    let opened = receive(&bytes, Topic::Apps, NOW).unwrap();
    assert_eq!(
        opened.signer,
        relay.public(),
        "a day-old owner signature is still good"
    );

    let mut tampered = cancel;
    tampered.action.app = "other".into();
    let bytes = publish_bytes(&relay, NOW, &Message::AppCancel(tampered)).unwrap();
    let err = receive(&bytes, Topic::Apps, NOW).unwrap_err();
    assert!(matches!(err, ReceiveError::OwnerSignature(_)), "{err}");
    assert_eq!(err.reason(), "forged_owner");
}

#[test]
fn messages_must_arrive_on_their_own_topic() {
    let k = key(1);
    let bytes = publish_bytes(&k, NOW, &bid_from(&k)).unwrap();
    let err = receive(&bytes, Topic::Announcements, NOW).unwrap_err();
    assert!(
        matches!(
            err,
            ReceiveError::WrongTopic {
                got: Topic::Announcements,
                expected: Topic::Bids,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn malformed_payloads_and_values_are_refused_with_the_field() {
    let k = key(1);
    // A validly signed envelope whose payload is not a message.
    let env = Envelope::sign(&k, NOW, vec![0xff, 0xff, 0xff]);
    let err = open(&env, NOW).unwrap_err();
    assert!(matches!(err, ReceiveError::Payload { .. }), "{err}");

    // Trailing bytes after a valid message.
    let mut payload = encode_message(&bid_from(&k)).unwrap();
    payload.push(0);
    let err = open(&Envelope::sign(&k, NOW, payload), NOW).unwrap_err();
    assert!(matches!(err, ReceiveError::Payload { .. }), "{err}");

    // A NaN offer, signed properly, is refused by the structural checks.
    let mut nan = bid_from(&k);
    if let Message::Bid(b) = &mut nan {
        b.offered.cpu = f64::NAN;
    }
    let payload = encode_message(&nan).unwrap();
    let err = open(&Envelope::sign(&k, NOW, payload), NOW).unwrap_err();
    match err {
        ReceiveError::Invalid {
            source: MessageError::BadNumber { field, .. },
            ..
        } => assert_eq!(field, "offered.cpu"),
        other => panic!("unexpected {other}"),
    }
    assert!(matches!(
        seal(&k, NOW, &nan),
        Err(SealError::Invalid { .. })
    ));
}
