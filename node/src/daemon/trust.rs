//! What this node checks of another node's announcement before taking it as a member
//! (issue #19). Checked here, on receipt, by every node for itself:
//!
//! - **One network, one rule set**: the announcement's `network` id must be this node's.
//!   The id hashes the tier profile, the block time and the genesis ([`network_id`]): a
//!   node on other rules (a testnet profile on mainnet, another block time) would judge
//!   tiers and expiry heights differently, so it is not a member.
//! - **One address, one node**: an advertised IP already held by another live member (or
//!   by this node) is refused, so an impostor's instances are never listed at another
//!   node's address. The holder keeps it until it is no longer live in the view (three
//!   missed announcement periods), after which the address may change hands. Locations are
//!   listed by IP and app host ports are per IP, so the unit is the IP, not the full
//!   multiaddr.
//!
//! A refused announcement counts in
//! `fluxnode_messages_rejected_total{topic="announcements",reason}` (`other_network`,
//! `address_claimed`) and leaves the sender out of the membership view: it is never
//! called for bids, assigned, or listed as a location.

use proto::keys::NodeId;
use proto::message::NodeAnnouncement;
use scheduler::protocol::Millis;
use sha2::{Digest, Sha256};

use super::Daemon;
use super::members::advertised_ip;

/// The id of the network a node's rules make: the first 8 bytes of SHA-256 over the tier
/// profile, the block time in ms and the genesis, in hex.
pub fn network_id(tier_profile: &str, block_time_ms: u64, genesis: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"fluxnode-network/1\0");
    h.update(tier_profile.as_bytes());
    h.update(b"\0");
    h.update(block_time_ms.to_be_bytes());
    h.update(genesis.to_be_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Why an announcement is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Another network id: the node runs by other rules.
    OtherNetwork { theirs: String },
    /// The advertised IP is held by another live node.
    AddressClaimed { ip: String, holder: String },
}

impl Refusal {
    /// The `reason` label of the rejected-message counter.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::OtherNetwork { .. } => "other_network",
            Refusal::AddressClaimed { .. } => "address_claimed",
        }
    }
}

/// Checks `a` against this node's `network` and the addresses `holders` (node, IP, live)
/// hold. Pure, for the unit tests; [`Daemon::admit`] feeds it the daemon's state.
pub fn check(
    a: &NodeAnnouncement,
    network: &str,
    holders: impl IntoIterator<Item = (NodeId, Option<String>, bool)>,
) -> Result<(), Refusal> {
    if a.network != network {
        return Err(Refusal::OtherNetwork {
            theirs: a.network.clone(),
        });
    }
    let Some(ip) = advertised_ip(&a.advertise_addr) else {
        return Ok(());
    };
    for (holder, held, live) in holders {
        if holder != a.node && live && held.as_deref() == Some(ip.as_str()) {
            return Err(Refusal::AddressClaimed {
                ip,
                holder: holder.node_id(),
            });
        }
    }
    Ok(())
}

impl Daemon {
    /// Whether another node's announcement may make it (or keep it) a member; counts and
    /// logs a refusal.
    pub(super) fn admit(&self, a: &NodeAnnouncement, now: Millis) -> bool {
        let me = (self.id, advertised_ip(&self.facts.advertise_addr), true);
        let others = self
            .members
            .iter()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, o)| (*id, o.ip(), self.view.is_live(*id, now)));
        match check(a, &self.facts.network, std::iter::once(me).chain(others)) {
            Ok(()) => true,
            Err(refusal) => {
                tracing::debug!(node = %a.node, ?refusal, "announcement refused: not a member");
                self.rejected(proto::message::Topic::Announcements, refusal.reason());
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::keys::Keypair;

    fn ann(seed: u8, addr: &str, network: &str) -> NodeAnnouncement {
        NodeAnnouncement {
            node: Keypair::from_seed(&[seed; 32]).public(),
            seq: 1,
            tier: proto::tier::Tier::Cumulus,
            location: proto::geo::Location::parse("EU_FR_IDF").unwrap(),
            total: proto::tier::Resources::new(2.0, 4_000, 100),
            used: proto::tier::Resources::default(),
            bench_score: 500.0,
            claimed_uptime_secs: 0,
            advertise_addr: addr.into(),
            planned_restart: None,
            network: network.into(),
        }
    }

    #[test]
    fn network_id_covers_profile_block_time_and_genesis() {
        let base = network_id("flux", 30_000, 0);
        assert_eq!(base, network_id("flux", 30_000, 0));
        assert_eq!(base.len(), 16);
        assert_ne!(base, network_id("testnet", 30_000, 0));
        assert_ne!(base, network_id("flux", 1_000, 0));
        assert_ne!(base, network_id("flux", 30_000, 1));
    }

    #[test]
    fn other_network_and_claimed_address_are_refused() {
        let net = network_id("flux", 30_000, 0);
        let honest = ann(1, "/ip4/203.0.113.7/tcp/16125", &net);
        let holders = || vec![(honest.node, Some("203.0.113.7".to_string()), true)];
        // The holder itself, again: fine.
        assert_eq!(check(&honest, &net, holders()), Ok(()));
        // A fresh key claiming the holder's IP (any port): refused while it is live.
        let impostor = ann(2, "/ip4/203.0.113.7/tcp/26125", &net);
        let err = check(&impostor, &net, holders()).unwrap_err();
        assert_eq!(err.reason(), "address_claimed");
        // Once the holder is no longer live, the address may change hands.
        let dead = vec![(honest.node, Some("203.0.113.7".to_string()), false)];
        assert_eq!(check(&impostor, &net, dead), Ok(()));
        // Another IP is fine; another network is not, whatever the address.
        assert_eq!(
            check(&ann(3, "/ip4/203.0.113.8/tcp/16125", &net), &net, holders()),
            Ok(())
        );
        let other = ann(
            3,
            "/ip4/203.0.113.8/tcp/16125",
            &network_id("testnet", 30_000, 0),
        );
        assert_eq!(
            check(&other, &net, holders()).unwrap_err().reason(),
            "other_network"
        );
    }
}
