//! The bids this node has open, and when to prepare the app of each.
//!
//! A bid reserves capacity until its round's assignment or the reservation's lapse. The
//! app is prepared (images pulled, its network, volumes and containers created) only once
//! a bid has stayed open for [`PREPARE_AFTER`]: a round's shortlist calls about
//! `2 × missing + 2` nodes, and preparing on every bid at once made most of the engine
//! work of a registration burst that of bidders that then lost — on `scripts/scale.sh 20`
//! (one engine shared by all nodes) eight bidders created a network, volumes and
//! containers for each three-instance app and five removed them again, and registration →
//! 3 running grew to 6–10 s per round as starts queued behind that work. A bid answered
//! within the delay (won or lost) prepares nothing; a won one starts from scratch, which
//! costs the same work the preparation would have done.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use scheduler::protocol::Millis;

/// How long a bid stays open before its app is prepared: one round trip at the 100 ms
/// one-way latency the protocol assumes, plus margin. Most rounds assign within it, and
/// an image pull (the part worth starting early) that begins this much later finishes
/// this much later, which is small next to any pull.
pub const PREPARE_AFTER: Millis = 300;

/// One open bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenBid {
    /// When its reservation lapses without an assignment.
    lapses: Millis,
    /// When to prepare its app, until that is done.
    prepare_at: Option<Millis>,
}

/// Open bids by (app, round), and the apps prepared for bids.
#[derive(Debug, Default)]
pub struct OpenBids {
    open: BTreeMap<(Arc<str>, u64), OpenBid>,
    /// Apps prepared for a bid whose objects nothing has taken over or removed yet.
    prepared: BTreeSet<Arc<str>>,
}

/// How a bid ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// Whether its app was prepared for a bid and not cleaned up since (so a lost bid
    /// leaves objects to remove).
    pub prepared: bool,
}

impl OpenBids {
    pub fn open(&mut self, app: Arc<str>, round: u64, lapses: Millis, now: Millis) {
        self.open.insert(
            (app, round),
            OpenBid {
                lapses,
                prepare_at: Some(now + PREPARE_AFTER),
            },
        );
    }

    /// The bid's assignment arrived: closes it, if it was open.
    pub fn close(&mut self, app: &Arc<str>, round: u64) -> Option<Closed> {
        self.open.remove(&(app.clone(), round))?;
        Some(Closed {
            prepared: self.prepared.contains(app),
        })
    }

    /// What was prepared for `app` was taken over (it starts here) or removed.
    pub fn settled(&mut self, app: &str) {
        self.prepared.remove(app);
    }

    /// Whether any bid for `app` is open.
    pub fn bidding(&self, app: &str) -> bool {
        self.open.keys().any(|(a, _)| &**a == app)
    }

    /// Closes the bids whose reservation lapsed at `now`; returns their apps and whether
    /// each was prepared.
    pub fn lapse(&mut self, now: Millis) -> Vec<(Arc<str>, Closed)> {
        let lapsed: Vec<(Arc<str>, u64)> = self
            .open
            .iter()
            .filter(|(_, b)| b.lapses <= now)
            .map(|(k, _)| k.clone())
            .collect();
        lapsed
            .into_iter()
            .filter_map(|(app, round)| {
                let closed = self.close(&app, round)?;
                Some((app, closed))
            })
            .collect()
    }

    /// Apps whose bids have been open for [`PREPARE_AFTER`] and are not prepared yet;
    /// marks them prepared. Each app once, however many rounds bid for it.
    pub fn due(&mut self, now: Millis) -> Vec<Arc<str>> {
        let mut apps: Vec<Arc<str>> = Vec::new();
        for ((app, _), b) in &self.open {
            if b.prepare_at.is_some_and(|t| t <= now) && !apps.contains(app) {
                apps.push(app.clone());
            }
        }
        // Every open bid for a prepared app counts as prepared: one preparation serves
        // them all.
        for ((app, _), b) in self.open.iter_mut() {
            if apps.contains(app) {
                b.prepare_at = None;
            }
        }
        self.prepared.extend(apps.iter().cloned());
        apps
    }

    /// When the next preparation is due.
    pub fn next_due(&self) -> Option<Millis> {
        self.open.values().filter_map(|b| b.prepare_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn a_bid_answered_within_the_delay_prepares_nothing() {
        let mut b = OpenBids::default();
        b.open(app("web"), 1, 2_300, 1_000);
        assert_eq!(b.next_due(), Some(1_000 + PREPARE_AFTER));
        assert!(b.due(1_000 + PREPARE_AFTER - 1).is_empty());
        assert_eq!(b.close(&app("web"), 1), Some(Closed { prepared: false }));
        assert_eq!(b.next_due(), None);
        assert!(b.due(10_000).is_empty());
        assert_eq!(b.close(&app("web"), 1), None, "closed once");
    }

    #[test]
    fn a_bid_open_past_the_delay_prepares_its_app_once() {
        let mut b = OpenBids::default();
        b.open(app("web"), 1, 2_300, 1_000);
        b.open(app("web"), 2, 2_400, 1_100);
        b.open(app("db"), 1, 2_300, 1_200);
        assert_eq!(b.due(1_000 + PREPARE_AFTER), vec![app("web")]);
        assert_eq!(b.due(1_100 + PREPARE_AFTER), Vec::<Arc<str>>::new());
        assert_eq!(b.next_due(), Some(1_200 + PREPARE_AFTER));
        assert_eq!(b.due(5_000), vec![app("db")]);
        assert!(b.bidding("web"));
        assert_eq!(b.close(&app("web"), 1), Some(Closed { prepared: true }));
        let lapsed = b.lapse(2_350);
        assert_eq!(lapsed, vec![(app("db"), Closed { prepared: true })]);
        assert!(b.bidding("web"), "round 2 lapses later");
        // A bid opened after the preparation still ends with it to clean up.
        b.open(app("web"), 3, 9_000, 6_000);
        assert_eq!(b.close(&app("web"), 3), Some(Closed { prepared: true }));
        b.settled("web");
        assert_eq!(
            b.lapse(2_400),
            vec![(app("web"), Closed { prepared: false })]
        );
        assert!(!b.bidding("web"));
    }
}
