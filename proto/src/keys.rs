//! ed25519 identities: one key both signs fluxnode messages and is the node's libp2p
//! identity, so the id a node gossips under is the key its messages are checked against.
//!
//! A public key's text form, its **node id**, is exactly the libp2p `PeerId` string of that
//! key: base58btc of the identity multihash of the protobuf-encoded public key,
//!
//! ```text
//! 0x00 0x24 | 0x08 0x01 0x12 0x20 | pk[32]
//! ^identity ^36 bytes follow       ^ protobuf PublicKey { Type: Ed25519 (1), Data: 32 bytes }
//! ```
//!
//! which always starts with `12D3KooW`.
//!
//! Key file format (written by `fluxnode key generate`), UTF-8 JSON:
//!
//! ```json
//! {"type":"ed25519","secret":"<64 hex digits: the 32-byte seed>","node_id":"12D3KooW..."}
//! ```
//!
//! `node_id` is informational for the operator and optional on input; when present it must
//! match the key derived from `secret`, so a hand-edited file cannot claim another identity.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of an ed25519 public key and of a seed.
pub const KEY_LEN: usize = 32;
/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Bytes in front of the public key in a libp2p ed25519 peer id: identity multihash code
/// (0x00), digest length 36 (0x24), then protobuf field 1 = KeyType Ed25519 (0x08 0x01) and
/// field 2 = 32 bytes of key data (0x12 0x20). See the libp2p peer-ids specification.
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
const PEER_ID_LEN: usize = PEER_ID_PREFIX.len() + KEY_LEN;

/// Why a key, node id or key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("node id {id:?} is not base58btc text: {reason}")]
    NotBase58 { id: String, reason: String },
    #[error(
        "node id {id:?} decodes to {len} bytes; an ed25519 node id is 38 bytes and its text starts with 12D3KooW"
    )]
    WrongLength { id: String, len: usize },
    #[error(
        "node id {id:?} is not an ed25519 identity peer id (RSA/secp256k1 ids such as Qm... are not supported); expected text starting with 12D3KooW"
    )]
    NotEd25519 { id: String },
    #[error("public key {0} is not a valid ed25519 point")]
    InvalidPoint(String),
    #[error("could not read randomness from the operating system: {0}")]
    Randomness(String),
    #[error(
        "key file is not valid JSON of the form {{\"type\":\"ed25519\",\"secret\":\"<64 hex>\"}}: {0}"
    )]
    FileSyntax(String),
    #[error("key file field `type` is {0:?}; only \"ed25519\" is supported")]
    FileKeyType(String),
    #[error("key file field `secret` must be 64 hex digits (a 32-byte seed): {0}")]
    FileSecret(String),
    #[error(
        "key file field `node_id` says {claimed} but the secret belongs to {actual}; remove `node_id` or fix the secret"
    )]
    FileNodeIdMismatch { claimed: String, actual: String },
}

/// A verified ed25519 public key: always a valid curve point.
///
/// Serialized as its node id string in human-readable formats (JSON) and as its 32 raw bytes
/// in binary ones (postcard); both forms are validated when read.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

/// A node is named by its public key; its text form is the libp2p peer id.
pub type NodeId = PublicKey;

impl PublicKey {
    /// Reads a 32-byte compressed point; fails when the bytes are not a point on the curve.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| KeyError::InvalidPoint(hex::encode(bytes)))
    }

    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0.to_bytes()
    }

    /// The libp2p peer id string of this key, e.g. `12D3KooW...`.
    pub fn node_id(&self) -> String {
        node_id_string(&self.to_bytes())
    }

    /// Parses a node id string (see the module docs) into a validated key.
    pub fn from_node_id(id: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&parse_node_id_bytes(id)?)
    }

    /// Whether the key has small order. Such keys let anyone produce signatures that verify,
    /// so they are refused as signers.
    pub fn is_weak(&self) -> bool {
        self.0.is_weak()
    }

    /// Strict verification (RFC 8032 with canonical `s` and no small-order keys): the same
    /// rule libp2p applies, and it removes signature malleability.
    pub fn verify(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

/// Formats raw key bytes as a node id without checking that they are a curve point (used to
/// name the claimed signer of a message that failed verification).
pub fn node_id_string(key: &[u8; KEY_LEN]) -> String {
    let mut raw = [0u8; PEER_ID_LEN];
    raw[..PEER_ID_PREFIX.len()].copy_from_slice(&PEER_ID_PREFIX);
    raw[PEER_ID_PREFIX.len()..].copy_from_slice(key);
    bs58::encode(raw).into_string()
}

/// Parses a node id string into raw key bytes, without the curve-point check.
pub fn parse_node_id_bytes(id: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let raw = bs58::decode(id)
        .into_vec()
        .map_err(|e| KeyError::NotBase58 {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
    if raw.len() != PEER_ID_LEN {
        // A sha2-256 peer id (RSA, large keys) is 34 bytes: name that case precisely.
        if raw.first() == Some(&0x12) {
            return Err(KeyError::NotEd25519 { id: id.to_string() });
        }
        return Err(KeyError::WrongLength {
            id: id.to_string(),
            len: raw.len(),
        });
    }
    let (prefix, key) = raw.split_at(PEER_ID_PREFIX.len());
    if prefix != PEER_ID_PREFIX {
        return Err(KeyError::NotEd25519 { id: id.to_string() });
    }
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(key);
    Ok(out)
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.node_id())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.node_id())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_node_id(s)
    }
}

/// Orders keys by their bytes, so sorted lists of node ids are canonical.
impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_bytes().cmp(other.0.as_bytes())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.node_id())
        } else {
            self.to_bytes().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            Self::from_node_id(&s).map_err(serde::de::Error::custom)
        } else {
            let bytes = <[u8; KEY_LEN]>::deserialize(deserializer)?;
            Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
        }
    }
}

/// A detached ed25519 signature, for signatures carried inside messages (owner
/// signatures). Hex in JSON, 64 raw bytes (length-prefixed) in binary formats.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hex::encode(self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ed25519 signature: 64 bytes, or 128 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Signature, E> {
                let mut out = [0u8; SIGNATURE_LEN];
                hex::decode_to_slice(v, &mut out).map_err(|e| {
                    E::custom(format_args!("signature must be 128 hex digits: {e}"))
                })?;
                Ok(Signature(out))
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Signature, E> {
                <[u8; SIGNATURE_LEN]>::try_from(v)
                    .map(Signature)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(Visitor)
        } else {
            deserializer.deserialize_bytes(Visitor)
        }
    }
}

/// An ed25519 signing key (the 32-byte seed and its public key). `Debug` never shows the
/// secret; the seed is zeroed when the key is dropped (ed25519-dalek's `zeroize` feature).
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; KEY_LEN];
        getrandom::getrandom(&mut seed).map_err(|e| KeyError::Randomness(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// A key from a 32-byte seed (RFC 8032 private key). Deterministic: the simulator and
    /// tests derive node keys this way.
    pub fn from_seed(seed: &[u8; KEY_LEN]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte seed, e.g. for `libp2p::identity::Keypair::ed25519_from_bytes`.
    pub fn seed(&self) -> [u8; KEY_LEN] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }

    /// The key file text (see the module docs), with a trailing newline.
    pub fn to_key_file(&self) -> String {
        let file = KeyFile {
            key_type: ED25519.to_string(),
            secret: hex::encode(self.seed()),
            node_id: Some(self.public().node_id()),
        };
        // Serializing a struct of three strings cannot fail; fall back to a hand-built
        // document rather than panic, to keep the crate free of panics.
        let mut text = serde_json::to_string(&file).unwrap_or_else(|_| {
            format!(
                "{{\"type\":\"{ED25519}\",\"secret\":\"{}\"}}",
                hex::encode(self.seed())
            )
        });
        text.push('\n');
        text
    }

    /// Reads a key file; every failure names the field to fix.
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| KeyError::FileSyntax(e.to_string()))?;
        if file.key_type != ED25519 {
            return Err(KeyError::FileKeyType(file.key_type));
        }
        let mut seed = [0u8; KEY_LEN];
        hex::decode_to_slice(file.secret.trim(), &mut seed)
            .map_err(|e| KeyError::FileSecret(e.to_string()))?;
        let key = Self::from_seed(&seed);
        if let Some(claimed) = file.node_id {
            let actual = key.public().node_id();
            if claimed != actual {
                return Err(KeyError::FileNodeIdMismatch { claimed, actual });
            }
        }
        Ok(key)
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({}, secret: <redacted>)", self.public())
    }
}

const ED25519: &str = "ed25519";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(rename = "type")]
    key_type: String,
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libp2p's published ed25519 test vector (peer-ids specification and rust-libp2p
    /// `identity/src/keypair.rs`): private key protobuf `08011240 || seed || pk`, public
    /// key protobuf `08011220 || pk`, and the peer id other libp2p implementations print.
    const VECTOR_SEED: &str = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d";
    const VECTOR_PK: &str = "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    const VECTOR_PEER_ID: &str = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

    fn vector_key() -> Keypair {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(VECTOR_SEED, &mut seed).unwrap();
        Keypair::from_seed(&seed)
    }

    #[test]
    fn libp2p_test_vector() {
        let key = vector_key();
        assert_eq!(hex::encode(key.public().to_bytes()), VECTOR_PK);
        assert_eq!(key.public().node_id(), VECTOR_PEER_ID);
        assert_eq!(
            PublicKey::from_node_id(VECTOR_PEER_ID).unwrap(),
            key.public()
        );
    }

    #[test]
    fn generated_ids_have_the_ed25519_peer_id_prefix_and_parse_back() {
        for _ in 0..20 {
            let key = Keypair::generate().unwrap();
            let id = key.public().to_string();
            assert!(id.starts_with("12D3KooW"), "{id}");
            assert_eq!(id.parse::<PublicKey>().unwrap(), key.public());
        }
    }

    #[test]
    fn bad_node_ids_give_distinct_errors() {
        assert!(matches!(
            PublicKey::from_node_id("12D3KooW0OIl"),
            Err(KeyError::NotBase58 { .. })
        ));
        assert!(matches!(
            PublicKey::from_node_id("12D3KooW"),
            Err(KeyError::WrongLength { .. })
        ));
        // An RSA-style sha2-256 peer id.
        assert!(matches!(
            PublicKey::from_node_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"),
            Err(KeyError::NotEd25519 { .. })
        ));
        // Right length, wrong protobuf key type (secp256k1 = 2).
        let mut raw = PEER_ID_PREFIX.to_vec();
        raw[3] = 0x02;
        raw.extend_from_slice(&[7u8; 32]);
        let id = bs58::encode(raw).into_string();
        assert!(matches!(
            PublicKey::from_node_id(&id),
            Err(KeyError::NotEd25519 { .. })
        ));
    }

    #[test]
    fn non_point_bytes_are_refused() {
        // y = 2 is not the y-coordinate of any point on edwards25519.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let id = node_id_string(&bytes);
        assert!(matches!(
            PublicKey::from_node_id(&id),
            Err(KeyError::InvalidPoint(_))
        ));
    }

    #[test]
    fn key_file_round_trips_and_checks_fields() {
        let key = Keypair::generate().unwrap();
        let text = key.to_key_file();
        let back = Keypair::from_key_file(&text).unwrap();
        assert_eq!(back.seed(), key.seed());
        assert!(text.contains(&key.public().node_id()));

        let minimal = format!(r#"{{"type":"ed25519","secret":"{VECTOR_SEED}"}}"#);
        assert_eq!(
            Keypair::from_key_file(&minimal).unwrap().public().node_id(),
            VECTOR_PEER_ID
        );
        assert!(matches!(
            Keypair::from_key_file("not json"),
            Err(KeyError::FileSyntax(_))
        ));
        assert!(matches!(
            Keypair::from_key_file(r#"{"type":"rsa","secret":"00"}"#),
            Err(KeyError::FileKeyType(_))
        ));
        assert!(matches!(
            Keypair::from_key_file(r#"{"type":"ed25519","secret":"abcd"}"#),
            Err(KeyError::FileSecret(_))
        ));
        let lying = format!(
            r#"{{"type":"ed25519","secret":"{VECTOR_SEED}","node_id":"{}"}}"#,
            key.public()
        );
        assert!(matches!(
            Keypair::from_key_file(&lying),
            Err(KeyError::FileNodeIdMismatch { .. })
        ));
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let key = vector_key();
        let shown = format!("{key:?}");
        assert!(!shown.contains(VECTOR_SEED), "{shown}");
        assert!(shown.contains(VECTOR_PEER_ID));
    }

    #[test]
    fn serde_forms() {
        let pk = vector_key().public();
        let json = serde_json::to_string(&pk).unwrap();
        assert_eq!(json, format!("\"{VECTOR_PEER_ID}\""));
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), pk);
        let bin = postcard::to_allocvec(&pk).unwrap();
        assert_eq!(bin.len(), 32);
        assert_eq!(postcard::from_bytes::<PublicKey>(&bin).unwrap(), pk);
    }
}
