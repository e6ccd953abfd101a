//! Wire encodings: a fixed binary frame for envelopes on gossip, postcard for the message
//! inside, JSON (serde) for the HTTP API.
//!
//! Envelope frame, version 1 (all integers big-endian):
//!
//! ```text
//! offset 0        1          33              41                45       45+n
//!        | ver=1  | signer 32 | timestamp_ms 8 | payload_len n 4 | payload | signature 64 |
//! ```
//!
//! The frame is fixed-width around the payload so decoding is a few bounds checks, and its
//! fields are exactly those the signature covers. The payload is a postcard-encoded
//! [`Message`]. The frame size is checked against [`MAX_ENVELOPE_BYTES`] before anything
//! is parsed.
//!
//! Receiving is [`receive`]: frame → envelope checks (size, signer, age, signature) →
//! message decode → structural checks → the signer is the node the message names (or, for
//! app actions, the owner signature verifies) → it arrived on its own topic. Every failure
//! is a distinct error with a [`ReceiveError::reason`] label for drop counters.

use crate::envelope::{
    ENVELOPE_OVERHEAD, Envelope, EnvelopeError, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES,
};
use crate::keys::{KEY_LEN, Keypair, PublicKey, SIGNATURE_LEN};
use crate::message::{Message, MessageError, OwnerSignatureError, Topic};

/// The envelope frame version written by [`encode`].
pub const FRAME_VERSION: u8 = 1;

/// Why bytes are not an envelope frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is {size} bytes; the most accepted is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("frame is {size} bytes; an envelope frame is at least {min} bytes")]
    Truncated { size: usize, min: usize },
    #[error("frame version {0} is not supported (this node reads version {FRAME_VERSION})")]
    UnknownVersion(u8),
    #[error(
        "frame declares a {declared}-byte payload but carries {actual} bytes between header and signature"
    )]
    LengthMismatch { declared: u64, actual: usize },
}

/// Encodes an envelope as a version-1 frame.
pub fn encode(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_OVERHEAD + envelope.payload.len());
    out.push(FRAME_VERSION);
    out.extend_from_slice(&envelope.signer);
    out.extend_from_slice(&envelope.timestamp_ms.to_be_bytes());
    // A payload over u32::MAX bytes is far over MAX_ENVELOPE_BYTES: its frame is refused by
    // `decode` on size, so saturating here loses nothing.
    let len = u32::try_from(envelope.payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&envelope.payload);
    out.extend_from_slice(&envelope.signature);
    out
}

/// Decodes a frame. The size limit is checked first, before any field is read.
pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max: MAX_ENVELOPE_BYTES,
        });
    }
    if bytes.len() < ENVELOPE_OVERHEAD {
        return Err(DecodeError::Truncated {
            size: bytes.len(),
            min: ENVELOPE_OVERHEAD,
        });
    }
    let (header, rest) = bytes.split_at(1 + KEY_LEN + 8 + 4);
    let (body, sig) = rest.split_at(rest.len() - SIGNATURE_LEN);
    if header[0] != FRAME_VERSION {
        return Err(DecodeError::UnknownVersion(header[0]));
    }
    let mut signer = [0u8; KEY_LEN];
    signer.copy_from_slice(&header[1..1 + KEY_LEN]);
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&header[1 + KEY_LEN..1 + KEY_LEN + 8]);
    let mut len = [0u8; 4];
    len.copy_from_slice(&header[1 + KEY_LEN + 8..]);
    let declared = u32::from_be_bytes(len);
    if u64::from(declared) != body.len() as u64 {
        return Err(DecodeError::LengthMismatch {
            declared: u64::from(declared),
            actual: body.len(),
        });
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(sig);
    Ok(Envelope {
        signer,
        timestamp_ms: u64::from_be_bytes(ts),
        payload: body.to_vec(),
        signature,
    })
}

/// Encodes a message as a postcard payload.
pub fn encode_message(message: &Message) -> Result<Vec<u8>, SealError> {
    postcard::to_allocvec(message).map_err(|e| SealError::Encode(e.to_string()))
}

/// Decodes a postcard payload; trailing bytes are refused so one message has one encoding
/// length.
pub fn decode_message(payload: &[u8]) -> Result<Message, String> {
    match postcard::take_from_bytes::<Message>(payload) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(format!("{} unexpected bytes after the message", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// Why a message could not be sealed into an envelope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SealError {
    #[error("message could not be encoded: {0}")]
    Encode(String),
    #[error("{kind} message encodes to {size} bytes; an envelope carries at most {max}")]
    TooLarge {
        kind: &'static str,
        size: usize,
        max: usize,
    },
    #[error("{kind} message is malformed: {source}")]
    Invalid {
        kind: &'static str,
        source: MessageError,
    },
}

/// Checks, encodes and signs `message` as `key` at `now_ms`.
pub fn seal(key: &Keypair, now_ms: u64, message: &Message) -> Result<Envelope, SealError> {
    message.check().map_err(|source| SealError::Invalid {
        kind: message.kind(),
        source,
    })?;
    let payload = encode_message(message)?;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(SealError::TooLarge {
            kind: message.kind(),
            size: payload.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(Envelope::sign(key, now_ms, payload))
}

/// A message that passed every check in [`open`].
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub signer: PublicKey,
    pub timestamp_ms: u64,
    pub message: Message,
}

/// Why a received message was dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceiveError {
    #[error("undecodable frame: {0}")]
    Frame(#[from] DecodeError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("payload from {signer} is not a fluxnode message: {reason}")]
    Payload { signer: String, reason: String },
    #[error("{kind} from {signer} is malformed: {source}")]
    Invalid {
        kind: &'static str,
        signer: String,
        source: MessageError,
    },
    #[error("{kind}.{field} names {claimed} but the envelope is signed by {signer}")]
    SenderMismatch {
        kind: &'static str,
        field: &'static str,
        claimed: String,
        signer: String,
    },
    #[error(transparent)]
    OwnerSignature(#[from] OwnerSignatureError),
    #[error("{kind} arrived on topic {got} but belongs on {expected}")]
    WrongTopic {
        kind: &'static str,
        got: Topic,
        expected: Topic,
    },
}

impl ReceiveError {
    /// A stable label for drop counters, e.g. `dropped_messages_total{reason="stale"}`.
    pub fn reason(&self) -> &'static str {
        match self {
            ReceiveError::Frame(DecodeError::TooLarge { .. }) => "oversized",
            ReceiveError::Frame(_) => "malformed",
            ReceiveError::Envelope(EnvelopeError::Oversized { .. }) => "oversized",
            ReceiveError::Envelope(EnvelopeError::MalformedSigner { .. }) => "malformed",
            ReceiveError::Envelope(EnvelopeError::Stale { .. }) => "stale",
            ReceiveError::Envelope(EnvelopeError::Future { .. }) => "future",
            ReceiveError::Envelope(EnvelopeError::Forged { .. }) => "forged",
            ReceiveError::Payload { .. } | ReceiveError::Invalid { .. } => "malformed",
            ReceiveError::SenderMismatch { .. } => "sender_mismatch",
            ReceiveError::OwnerSignature(_) => "forged_owner",
            ReceiveError::WrongTopic { .. } => "wrong_topic",
        }
    }
}

/// Verifies an envelope at `now_ms` and decodes and checks the message inside (everything
/// in [`receive`] except the frame and the topic).
pub fn open(envelope: &Envelope, now_ms: u64) -> Result<Opened, ReceiveError> {
    let verified = envelope.verify(now_ms)?;
    let signer = verified.signer;
    let message = decode_message(verified.payload).map_err(|reason| ReceiveError::Payload {
        signer: signer.node_id(),
        reason,
    })?;
    message.check().map_err(|source| ReceiveError::Invalid {
        kind: message.kind(),
        signer: signer.node_id(),
        source,
    })?;
    if let Some((field, claimed)) = message.required_signer() {
        if *claimed != signer {
            return Err(ReceiveError::SenderMismatch {
                kind: message.kind(),
                field,
                claimed: claimed.node_id(),
                signer: signer.node_id(),
            });
        }
    }
    message.verify_owner()?;
    Ok(Opened {
        signer,
        timestamp_ms: verified.timestamp_ms,
        message,
    })
}

/// Everything a node does with gossip bytes that arrived on `topic` at `now_ms`.
pub fn receive(bytes: &[u8], topic: Topic, now_ms: u64) -> Result<Opened, ReceiveError> {
    let envelope = decode(bytes)?;
    let opened = open(&envelope, now_ms)?;
    let expected = opened.message.topic();
    if expected != topic {
        return Err(ReceiveError::WrongTopic {
            kind: opened.message.kind(),
            got: topic,
            expected,
        });
    }
    Ok(opened)
}

/// Seals and frames a message: the bytes to publish on `message.topic()`.
pub fn publish_bytes(key: &Keypair, now_ms: u64, message: &Message) -> Result<Vec<u8>, SealError> {
    seal(key, now_ms, message).map(|e| encode(&e))
}
