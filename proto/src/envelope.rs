//! Signed envelopes: every gossip message travels as payload bytes signed by its sender.
//!
//! The signature covers these canonical bytes, all fixed-width so no two envelopes share
//! them:
//!
//! ```text
//! b"fluxnode/envelope/v1" | signer pk [32] | timestamp_ms u64 BE | payload_len u32 BE | payload
//! ```
//!
//! The leading tag separates these signatures from every other use of the key (owner
//! signatures in [`crate::message`], libp2p's own handshake signatures), so a signature made
//! for one purpose can never be replayed as another.
//!
//! [`Envelope::verify`] takes the current time as an argument and applies, cheapest first
//! (so a flood of junk costs no signature checks):
//!
//! 1. size: payload at most [`MAX_PAYLOAD_BYTES`] → else [`EnvelopeError::Oversized`]
//! 2. signer: a valid, non-small-order ed25519 key → else [`EnvelopeError::MalformedSigner`]
//! 3. age: at most [`MAX_AGE_MS`] old → else [`EnvelopeError::Stale`];
//!    at most [`MAX_FUTURE_MS`] ahead → else [`EnvelopeError::Future`]
//! 4. signature: strict ed25519 over the canonical bytes → else [`EnvelopeError::Forged`]
//!
//! Boundaries are inclusive: a message exactly 5 minutes old, or exactly 2 minutes ahead,
//! is accepted; one millisecond more is refused.

use serde::{Deserialize, Serialize};

use crate::keys::{self, KEY_LEN, Keypair, PublicKey, SIGNATURE_LEN};

/// Domain-separation tag at the start of the signed bytes.
pub const ENVELOPE_DOMAIN: &[u8] = b"fluxnode/envelope/v1";

/// Oldest accepted message: 5 minutes, the staleness bound in the design's invariants. It
/// must exceed gossip propagation plus clock skew between honest nodes by a wide margin,
/// while keeping the replay window (and the de-duplication memory it needs) short.
pub const MAX_AGE_MS: u64 = 5 * 60 * 1000;

/// Furthest a timestamp may lie ahead of the receiver's clock: 2 minutes of clock skew.
pub const MAX_FUTURE_MS: u64 = 2 * 60 * 1000;

/// Largest encoded envelope accepted from gossip: 65,536 bytes, libp2p gossipsub's default
/// `max_transmit_size`, so anything fluxnode accepts can also be sent with a stock gossipsub
/// configuration. The largest message is an app registration; Flux specs hold at most 10
/// components and the biggest real ones are a few KiB of JSON, so this leaves ample room
/// while bounding what one peer can make every node parse and store.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// Bytes an encoded envelope spends outside its payload: version (1), signer (32),
/// timestamp (8), payload length (4), signature (64). See [`crate::encoding`].
pub const ENVELOPE_OVERHEAD: usize = 1 + KEY_LEN + 8 + 4 + SIGNATURE_LEN;

/// Largest payload, chosen so the encoded envelope fits in [`MAX_ENVELOPE_BYTES`].
pub const MAX_PAYLOAD_BYTES: usize = MAX_ENVELOPE_BYTES - ENVELOPE_OVERHEAD;

/// A payload with its signer, timestamp and signature. Fields are raw bytes, so any frame
/// decodes and every check happens, with its own error, in [`Envelope::verify`].
///
/// Its serde form is for the JSON API: `{"signer": "12D3KooW...", "timestamp_ms": n,
/// "payload": "<hex>", "signature": "<hex>"}`. The gossip form is [`crate::encoding`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EnvelopeJson", into = "EnvelopeJson")]
pub struct Envelope {
    /// The signer's ed25519 public key, as sent (validated by `verify`).
    pub signer: [u8; KEY_LEN],
    /// When the signer made the envelope, unix milliseconds.
    pub timestamp_ms: u64,
    pub payload: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
}

/// Why an envelope was refused. Each reason is its own variant so the node can count them
/// separately (`dropped{reason=...}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("payload is {size} bytes; the most an envelope may carry is {max} bytes")]
    Oversized { size: usize, max: usize },
    #[error(
        "signer {signer} is not a usable ed25519 public key (not a curve point, or small order)"
    )]
    MalformedSigner { signer: String },
    #[error(
        "message from {signer} is {age_ms} ms old; messages older than {max_ms} ms are dropped (check the sender's clock)"
    )]
    Stale {
        signer: String,
        age_ms: u64,
        max_ms: u64,
    },
    #[error(
        "message from {signer} is timestamped {ahead_ms} ms in the future; more than {max_ms} ms ahead is dropped (check clocks; run NTP)"
    )]
    Future {
        signer: String,
        ahead_ms: u64,
        max_ms: u64,
    },
    #[error("signature does not verify for signer {signer}: the message was altered or forged")]
    Forged { signer: String },
}

/// What a successful [`Envelope::verify`] vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    pub signer: PublicKey,
    pub timestamp_ms: u64,
    pub payload: &'a [u8],
}

impl Envelope {
    /// Signs `payload` as `key` at `timestamp_ms`. The size limit is enforced by `verify`
    /// (and by [`crate::encoding::seal`]), not here, so tests can build oversized envelopes.
    pub fn sign(key: &Keypair, timestamp_ms: u64, payload: Vec<u8>) -> Self {
        let signer = key.public().to_bytes();
        let signature = key.sign(&signing_bytes(&signer, timestamp_ms, &payload));
        Self {
            signer,
            timestamp_ms,
            payload,
            signature,
        }
    }

    /// The signer as a node id string, whether or not the key is valid.
    pub fn signer_id(&self) -> String {
        keys::node_id_string(&self.signer)
    }

    /// Checks size, signer, age and signature at time `now_ms` (unix milliseconds); see the
    /// module docs for the order and the boundaries.
    pub fn verify(&self, now_ms: u64) -> Result<Verified<'_>, EnvelopeError> {
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(EnvelopeError::Oversized {
                size: self.payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let signer = match PublicKey::from_bytes(&self.signer) {
            Ok(pk) if !pk.is_weak() => pk,
            _ => {
                return Err(EnvelopeError::MalformedSigner {
                    signer: self.signer_id(),
                });
            }
        };
        if now_ms >= self.timestamp_ms {
            let age_ms = now_ms - self.timestamp_ms;
            if age_ms > MAX_AGE_MS {
                return Err(EnvelopeError::Stale {
                    signer: signer.node_id(),
                    age_ms,
                    max_ms: MAX_AGE_MS,
                });
            }
        } else {
            let ahead_ms = self.timestamp_ms - now_ms;
            if ahead_ms > MAX_FUTURE_MS {
                return Err(EnvelopeError::Future {
                    signer: signer.node_id(),
                    ahead_ms,
                    max_ms: MAX_FUTURE_MS,
                });
            }
        }
        let message = signing_bytes(&self.signer, self.timestamp_ms, &self.payload);
        if !signer.verify(&message, &self.signature) {
            return Err(EnvelopeError::Forged {
                signer: signer.node_id(),
            });
        }
        Ok(Verified {
            signer,
            timestamp_ms: self.timestamp_ms,
            payload: &self.payload,
        })
    }
}

/// The canonical bytes an envelope signature covers (see the module docs).
pub fn signing_bytes(signer: &[u8; KEY_LEN], timestamp_ms: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_DOMAIN.len() + KEY_LEN + 12 + payload.len());
    out.extend_from_slice(ENVELOPE_DOMAIN);
    out.extend_from_slice(signer);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    // Payloads over u32::MAX bytes are far beyond MAX_PAYLOAD_BYTES and fail `verify`
    // before their signature is checked; saturating keeps this function total.
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// The JSON shape of an [`Envelope`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    signer: String,
    timestamp_ms: u64,
    payload: String,
    signature: String,
}

impl From<Envelope> for EnvelopeJson {
    fn from(e: Envelope) -> Self {
        Self {
            signer: e.signer_id(),
            timestamp_ms: e.timestamp_ms,
            payload: hex::encode(&e.payload),
            signature: hex::encode(e.signature),
        }
    }
}

impl TryFrom<EnvelopeJson> for Envelope {
    type Error = String;
    fn try_from(j: EnvelopeJson) -> Result<Self, Self::Error> {
        let signer = keys::parse_node_id_bytes(&j.signer).map_err(|e| format!("signer: {e}"))?;
        let payload = hex::decode(&j.payload).map_err(|e| format!("payload: not hex: {e}"))?;
        let mut signature = [0u8; SIGNATURE_LEN];
        hex::decode_to_slice(&j.signature, &mut signature)
            .map_err(|e| format!("signature: expected 128 hex digits: {e}"))?;
        Ok(Self {
            signer,
            timestamp_ms: j.timestamp_ms,
            payload,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn key(n: u8) -> Keypair {
        Keypair::from_seed(&[n; 32])
    }

    #[test]
    fn verify_returns_signer_and_payload() {
        let env = Envelope::sign(&key(1), NOW, b"hello".to_vec());
        let v = env.verify(NOW).unwrap();
        assert_eq!(v.payload, b"hello");
        assert_eq!(v.signer, key(1).public());
        assert_eq!(v.timestamp_ms, NOW);
    }

    #[test]
    fn age_boundaries_are_inclusive() {
        let env = Envelope::sign(&key(1), NOW, b"x".to_vec());
        assert!(
            env.verify(NOW + MAX_AGE_MS).is_ok(),
            "exactly 5 min old is accepted"
        );
        assert!(matches!(
            env.verify(NOW + MAX_AGE_MS + 1),
            Err(EnvelopeError::Stale { age_ms, .. }) if age_ms == MAX_AGE_MS + 1
        ));
        assert!(
            env.verify(NOW - MAX_FUTURE_MS).is_ok(),
            "exactly 2 min ahead is accepted"
        );
        assert!(matches!(
            env.verify(NOW - MAX_FUTURE_MS - 1),
            Err(EnvelopeError::Future { ahead_ms, .. }) if ahead_ms == MAX_FUTURE_MS + 1
        ));
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let old = Envelope::sign(&key(1), 0, vec![]);
        assert!(matches!(
            old.verify(u64::MAX),
            Err(EnvelopeError::Stale { .. })
        ));
        let future = Envelope::sign(&key(1), u64::MAX, vec![]);
        assert!(matches!(
            future.verify(0),
            Err(EnvelopeError::Future { .. })
        ));
    }

    #[test]
    fn forged_signer_swap_and_payload_edit_are_forged() {
        let env = Envelope::sign(&key(1), NOW, b"bid".to_vec());
        let mut swapped = env.clone();
        swapped.signer = key(2).public().to_bytes();
        assert!(matches!(
            swapped.verify(NOW),
            Err(EnvelopeError::Forged { .. })
        ));
        let mut edited = env.clone();
        edited.payload[0] ^= 1;
        assert!(matches!(
            edited.verify(NOW),
            Err(EnvelopeError::Forged { .. })
        ));
        let mut retimed = env;
        retimed.timestamp_ms += 1;
        assert!(matches!(
            retimed.verify(NOW),
            Err(EnvelopeError::Forged { .. })
        ));
    }

    #[test]
    fn size_limit_is_inclusive() {
        let at_limit = Envelope::sign(&key(1), NOW, vec![0; MAX_PAYLOAD_BYTES]);
        assert!(at_limit.verify(NOW).is_ok());
        let over = Envelope::sign(&key(1), NOW, vec![0; MAX_PAYLOAD_BYTES + 1]);
        assert!(matches!(
            over.verify(NOW),
            Err(EnvelopeError::Oversized { size, max })
                if size == MAX_PAYLOAD_BYTES + 1 && max == MAX_PAYLOAD_BYTES
        ));
    }

    #[test]
    fn malformed_and_small_order_signers() {
        let mut env = Envelope::sign(&key(1), NOW, b"x".to_vec());
        env.signer = [0u8; 32];
        env.signer[0] = 2; // not a curve point
        assert!(matches!(
            env.verify(NOW),
            Err(EnvelopeError::MalformedSigner { .. })
        ));
        env.signer = [0u8; 32];
        env.signer[0] = 1; // the identity point: small order
        assert!(matches!(
            env.verify(NOW),
            Err(EnvelopeError::MalformedSigner { .. })
        ));
    }

    #[test]
    fn domain_tag_is_part_of_what_is_signed() {
        let k = key(3);
        let env = Envelope::sign(&k, NOW, b"p".to_vec());
        // A bare signature over the same fields without the tag must not verify.
        let mut untagged = Vec::new();
        untagged.extend_from_slice(&env.signer);
        untagged.extend_from_slice(&NOW.to_be_bytes());
        untagged.extend_from_slice(&1u32.to_be_bytes());
        untagged.extend_from_slice(b"p");
        let forged = Envelope {
            signature: k.sign(&untagged),
            ..env
        };
        assert!(matches!(
            forged.verify(NOW),
            Err(EnvelopeError::Forged { .. })
        ));
    }

    #[test]
    fn json_round_trip_and_field_errors() {
        let env = Envelope::sign(&key(4), NOW, b"{}".to_vec());
        let json = serde_json::to_string(&env).unwrap();
        assert!(json.contains("12D3KooW"), "{json}");
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), env);
        let bad = json.replace(&hex::encode(env.signature), "abcd");
        let err = serde_json::from_str::<Envelope>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("signature"), "{err}");
    }
}
