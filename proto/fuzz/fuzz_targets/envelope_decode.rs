//! Arbitrary gossip bytes through everything a node does with them: frame decode, envelope
//! verification at a fixed time, message decode and structural checks. None may panic, and
//! a frame that decodes must re-encode to the same bytes (one envelope, one encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::encoding::{decode, decode_message, encode, open, receive};
use proto::message::Topic;

/// A fixed "now" (2027-01-15) so runs are reproducible.
const NOW_MS: u64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = decode(data) {
        assert_eq!(encode(&envelope), data, "frame did not round-trip");
        let _ = envelope.verify(NOW_MS);
        let _ = open(&envelope, NOW_MS);
        // Signatures cannot be forged by a fuzzer, so also drive the message decoder and
        // its checks directly with the payload.
        if let Ok(message) = decode_message(&envelope.payload) {
            let _ = message.check();
            let _ = message.verify_owner();
            let _ = message.topic();
        }
    }
    let _ = receive(data, Topic::Apps, NOW_MS);
    if let Ok(message) = decode_message(data) {
        let _ = message.check();
        let _ = message.verify_owner();
    }
});
