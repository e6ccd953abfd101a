//! Peers this node lost, dialled again until they answer.
//!
//! Nothing else reconnects two nodes after a partition heals: a bootstrap address without
//! a peer id is dialled only while a node has no peer at all, gossip never dials, direct
//! messages stop once the daemon takes the peer for dead, and Kademlia's periodic
//! bootstrap comes every 5 minutes. In the three-daemon partition test one pair never
//! reconnected within 60 s: the only dial, made by a message queued during the cut, failed
//! before the heal.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// First redial this long after the loss, then twice as long after each failed one, up
/// to [`MAX_INTERVAL`].
const FIRST_INTERVAL: Duration = Duration::from_secs(5);
/// A healed partition is seen within this long: the merge of the two halves' groups and
/// ledgers waits for it, and a node that stays away costs one dial per 30 s.
const MAX_INTERVAL: Duration = Duration::from_secs(30);
/// A peer away this long is given up: the daemon took it for dead long before (30 s),
/// and a node that comes back dials its bootstrap peers itself.
const REDIAL_FOR: Duration = Duration::from_secs(1800);
/// At most this many lost peers are tracked (the longest-lost are dropped first): at
/// most some 9 dials a second even when all of them stay away.
const MAX_LOST: usize = 256;

struct Lost {
    since: Instant,
    next: Instant,
    interval: Duration,
    addrs: Vec<Multiaddr>,
}

#[derive(Default)]
pub(super) struct LostPeers {
    peers: HashMap<PeerId, Lost>,
}

impl LostPeers {
    /// `peer`'s last connection closed; `addrs` are the addresses it was connected on.
    pub fn lost(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, now: Instant) {
        if self.peers.len() >= MAX_LOST && !self.peers.contains_key(&peer) {
            if let Some(oldest) = self
                .peers
                .iter()
                .min_by_key(|(_, l)| l.since)
                .map(|(p, _)| *p)
            {
                self.peers.remove(&oldest);
            }
        }
        self.peers.insert(
            peer,
            Lost {
                since: now,
                next: now + FIRST_INTERVAL,
                interval: FIRST_INTERVAL,
                addrs,
            },
        );
    }

    /// `peer` is connected again.
    pub fn found(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// Peers to dial now, with the addresses they were last connected on; each is due
    /// again after twice its last interval. Peers lost for [`REDIAL_FOR`] are forgotten.
    pub fn due(&mut self, now: Instant) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.peers
            .retain(|_, l| now.saturating_duration_since(l.since) < REDIAL_FOR);
        let mut out = Vec::new();
        for (peer, l) in &mut self.peers {
            if l.next <= now {
                l.interval = (l.interval * 2).min(MAX_INTERVAL);
                l.next = now + l.interval;
                out.push((*peer, l.addrs.clone()));
            }
        }
        out.sort_by_key(|(p, _)| p.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_peer_is_dialled_with_backoff_until_found_or_given_up() {
        let t0 = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut l = LostPeers::default();
        l.lost(a, vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()], t0);
        l.lost(b, Vec::new(), t0);
        assert!(l.due(t0).is_empty());
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(l.due(at(5)).len(), 2);
        // Next after 10 s, then 20 s.
        assert!(l.due(at(14)).is_empty());
        assert_eq!(l.due(at(15)).len(), 2);
        l.found(&b);
        assert!(l.due(at(34)).is_empty());
        let due = l.due(at(35));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, a);
        assert_eq!(due[0].1.len(), 1);
        // At most every 30 s, and given up after half an hour.
        assert_eq!(l.due(at(75)).len(), 1);
        assert!(l.due(at(104)).is_empty());
        assert_eq!(l.due(at(105)).len(), 1);
        assert!(l.due(at(1800)).is_empty());
        assert!(l.peers.is_empty());
    }

    #[test]
    fn the_table_is_bounded_dropping_the_longest_lost() {
        let t0 = Instant::now();
        let mut l = LostPeers::default();
        let first = PeerId::random();
        l.lost(first, Vec::new(), t0);
        for i in 0..MAX_LOST {
            l.lost(
                PeerId::random(),
                Vec::new(),
                t0 + Duration::from_millis(i as u64 + 1),
            );
        }
        assert_eq!(l.peers.len(), MAX_LOST);
        assert!(!l.peers.contains_key(&first));
    }
}
