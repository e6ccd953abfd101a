//! App owner actions: registration, renewal and cancellation, each signed by the owner's
//! key inside the message, so any node can relay it and every node can check it came from
//! the owner (FluxOS likewise has the owner sign the spec text and relays it by gossip).
//!
//! The owner signs these canonical bytes (fixed-width fields, big-endian integers, strings
//! as a u32 length then UTF-8 bytes):
//!
//! ```text
//! DOMAIN | owner pk [32] | signed_at_ms u64 | action fields
//! register: b"fluxnode/app-register/v1" ... | registered_height u64 | spec_json str
//! renew:    b"fluxnode/app-renew/v1"    ... | app str | renewed_height u64 | expire_blocks u32
//! cancel:   b"fluxnode/app-cancel/v1"   ... | app str
//! update:   b"fluxnode/app-update/v1"   ... | updated_height u64 | spec_json str
//! ```
//!
//! The tags differ from each other and from the envelope's and none is a prefix of another,
//! so a signature for one action can never be presented as another.
//!
//! Owner signatures carry a time but are not subject to the envelope's 5-minute staleness
//! rule: a registration made a month ago must still verify when a new node syncs the app
//! list. `signed_at_ms` orders actions by the same owner (the newest renewal wins).

use serde::{Deserialize, Serialize};

use crate::keys::{Keypair, PublicKey, Signature};

/// Something an owner signs: a domain tag and its fields in canonical form.
pub trait OwnerAction {
    /// Domain-separation tag, unique per action kind.
    const DOMAIN: &'static [u8];
    /// Appends the action's fields in canonical form.
    fn write_fields(&self, out: &mut Vec<u8>);
}

/// Registers an app. The spec travels as the exact JSON bytes the owner signed; receivers
/// parse and validate it on receipt (with [`crate::validate`]), and should check that the
/// spec's `owner` names this message's `owner` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRegistration {
    /// The app specification, byte for byte as signed.
    pub spec_json: String,
    /// Chain height the registration counts from; expiry is `registered_height + expire`.
    pub registered_height: u64,
}

/// Extends an app's subscription: the app then expires at `renewed_height + expire_blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRenewal {
    pub app: String,
    /// Chain height the renewal counts from.
    pub renewed_height: u64,
    /// New subscription length in blocks (FluxOS `expire`).
    pub expire_blocks: u32,
}

/// Ends an app now: every node removes its instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCancel {
    pub app: String,
}

/// Replaces a registered app's spec with a new one (FluxOS's app update): the hosts move
/// to it one instance at a time. The app is the spec's `name`; the subscription then runs
/// `expire` blocks from `updated_height`, as a FluxOS update counts its `expire` from the
/// update's own block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppUpdate {
    /// The new app specification, byte for byte as signed.
    pub spec_json: String,
    /// Chain height the update counts from.
    pub updated_height: u64,
}

impl OwnerAction for AppUpdate {
    const DOMAIN: &'static [u8] = b"fluxnode/app-update/v1";
    fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.updated_height.to_be_bytes());
        write_str(out, &self.spec_json);
    }
}

impl OwnerAction for AppRegistration {
    const DOMAIN: &'static [u8] = b"fluxnode/app-register/v1";
    fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.registered_height.to_be_bytes());
        write_str(out, &self.spec_json);
    }
}

impl OwnerAction for AppRenewal {
    const DOMAIN: &'static [u8] = b"fluxnode/app-renew/v1";
    fn write_fields(&self, out: &mut Vec<u8>) {
        write_str(out, &self.app);
        out.extend_from_slice(&self.renewed_height.to_be_bytes());
        out.extend_from_slice(&self.expire_blocks.to_be_bytes());
    }
}

impl OwnerAction for AppCancel {
    const DOMAIN: &'static [u8] = b"fluxnode/app-cancel/v1";
    fn write_fields(&self, out: &mut Vec<u8>) {
        write_str(out, &self.app);
    }
}

/// Strings longer than u32::MAX bytes cannot fit in an envelope; saturating keeps this
/// total, and such a message is refused for size long before its signature is checked.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// An owner action with the owner's key and signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerSigned<A> {
    pub owner: PublicKey,
    /// When the owner signed, unix milliseconds.
    pub signed_at_ms: u64,
    pub action: A,
    pub signature: Signature,
}

/// The owner signature on an app action does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "owner signature of {owner} on this app action does not verify; it must be signed by the app owner's key"
)]
pub struct OwnerSignatureError {
    pub owner: String,
}

impl<A: OwnerAction> OwnerSigned<A> {
    /// Signs `action` as `owner` at `signed_at_ms`.
    pub fn sign(owner: &Keypair, signed_at_ms: u64, action: A) -> Self {
        let pk = owner.public();
        let signature = Signature(owner.sign(&owner_signing_bytes(&pk, signed_at_ms, &action)));
        Self {
            owner: pk,
            signed_at_ms,
            action,
            signature,
        }
    }

    /// Checks the owner's signature (strict ed25519, small-order keys refused).
    pub fn verify(&self) -> Result<(), OwnerSignatureError> {
        let bytes = owner_signing_bytes(&self.owner, self.signed_at_ms, &self.action);
        if self.owner.is_weak() || !self.owner.verify(&bytes, &self.signature.0) {
            return Err(OwnerSignatureError {
                owner: self.owner.node_id(),
            });
        }
        Ok(())
    }
}

/// The canonical bytes an owner signs (see the module docs).
pub fn owner_signing_bytes<A: OwnerAction>(
    owner: &PublicKey,
    signed_at_ms: u64,
    action: &A,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(A::DOMAIN.len() + 40 + 64);
    out.extend_from_slice(A::DOMAIN);
    out.extend_from_slice(&owner.to_bytes());
    out.extend_from_slice(&signed_at_ms.to_be_bytes());
    action.write_fields(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ENVELOPE_DOMAIN;

    fn owner() -> Keypair {
        Keypair::from_seed(&[9; 32])
    }

    #[test]
    fn domains_are_prefix_free() {
        let tags = [
            ENVELOPE_DOMAIN,
            AppRegistration::DOMAIN,
            AppRenewal::DOMAIN,
            AppCancel::DOMAIN,
            AppUpdate::DOMAIN,
        ];
        for (i, a) in tags.iter().enumerate() {
            for (j, b) in tags.iter().enumerate() {
                if i != j {
                    assert!(!a.starts_with(b), "{a:?} starts with {b:?}");
                }
            }
        }
    }

    #[test]
    fn owner_signatures_verify_and_bind_every_field() {
        let reg = OwnerSigned::sign(
            &owner(),
            5,
            AppRegistration {
                spec_json: r#"{"name":"web"}"#.into(),
                registered_height: 100,
            },
        );
        reg.verify().unwrap();
        let mut edited = reg.clone();
        edited.action.registered_height = 101;
        assert!(edited.verify().is_err());
        let mut edited = reg.clone();
        edited.action.spec_json.push(' ');
        assert!(edited.verify().is_err());
        let mut edited = reg.clone();
        edited.signed_at_ms = 6;
        assert!(edited.verify().is_err());
        let mut edited = reg;
        edited.owner = Keypair::from_seed(&[8; 32]).public();
        assert!(edited.verify().is_err());

        let renew = OwnerSigned::sign(
            &owner(),
            7,
            AppRenewal {
                app: "web".into(),
                renewed_height: 200,
                expire_blocks: 88_000,
            },
        );
        renew.verify().unwrap();
        let mut edited = renew;
        edited.action.expire_blocks += 1;
        assert!(edited.verify().is_err());
    }

    #[test]
    fn a_cancel_signature_is_not_a_renewal_signature() {
        // Same owner, same time, and an app name chosen so the field bytes could collide
        // if the tag were absent: the domain keeps the two apart.
        let cancel = OwnerSigned::sign(&owner(), 1, AppCancel { app: "a".into() });
        let renew_bytes = owner_signing_bytes(
            &cancel.owner,
            1,
            &AppRenewal {
                app: "a".into(),
                renewed_height: 0,
                expire_blocks: 0,
            },
        );
        assert!(!cancel.owner.verify(&renew_bytes, &cancel.signature.0));
    }
}
