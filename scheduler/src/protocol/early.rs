//! Running reports of apps a view does not hold yet.
//!
//! Hosts report an app when its state changes, not again. A node that learns the app
//! after those reports — its ledger caught up by anti-entropy after a lost registration,
//! or it joined and peers sent their running reports on connecting before the ledger —
//! would otherwise see the app run nowhere: an orphan, which its home places a second
//! time (`fluxnode sim --node-ledgers` with a partition and loss, seed 66: 11 instances of
//! an app of 9 at the end, its home placing two more every 15 s). Kept here, the reports
//! become the app's locations when it arrives.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Millis;
use super::msg::Health;

/// At most this many (app, node) reports are kept: a peer cannot grow the map without
/// bound by reporting names nobody registered. 65,536 is some five times the instances of
/// Flux's whole network (about 12,000 nodes, a few apps each, at most a few in flight at
/// once as unknown to one node) at some 100 bytes each.
pub const EARLY_REPORTS_MAX: usize = 65_536;

#[derive(Debug, Clone, Default)]
pub(crate) struct EarlyReports {
    /// App → node key → when reported, with the health it reported.
    by_app: BTreeMap<Arc<str>, BTreeMap<u64, (Millis, Health)>>,
    len: usize,
}

impl EarlyReports {
    /// Node `key` reported `app` running with `health` (or stopped) at `now`.
    pub fn note(&mut self, app: &Arc<str>, key: u64, running: bool, health: Health, now: Millis) {
        if running {
            if self.len >= EARLY_REPORTS_MAX {
                return;
            }
            if self
                .by_app
                .entry(app.clone())
                .or_default()
                .insert(key, (now, health))
                .is_none()
            {
                self.len += 1;
            }
        } else if let Some(at) = self.by_app.get_mut(app) {
            if at.remove(&key).is_some() {
                self.len -= 1;
            }
            if at.is_empty() {
                self.by_app.remove(app);
            }
        }
    }

    /// The reports of `app`, now that the view holds it.
    pub fn take(&mut self, app: &str) -> BTreeMap<u64, (Millis, Health)> {
        let at = self.by_app.remove(app).unwrap_or_default();
        self.len -= at.len();
        at
    }

    /// Keeps only the reports of nodes `keep` accepts (live ones: a dead node's report
    /// locates nothing).
    pub fn retain_nodes(&mut self, mut keep: impl FnMut(u64) -> bool) {
        let mut len = 0;
        self.by_app.retain(|_, at| {
            at.retain(|&k, _| keep(k));
            len += at.len();
            !at.is_empty()
        });
        self.len = len;
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_kept_until_taken_stopped_or_their_node_dies() {
        let mut e = EarlyReports::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        e.note(&a, 1, true, Health::Healthy, 10);
        e.note(&a, 2, true, Health::Healthy, 11);
        e.note(&a, 2, true, Health::Healthy, 12);
        e.note(&b, 1, true, Health::Healthy, 13);
        assert_eq!(e.len(), 3);
        e.note(&a, 1, false, Health::Unhealthy, 14);
        e.retain_nodes(|k| k != 1);
        assert_eq!(e.len(), 1);
        assert_eq!(e.take("a"), BTreeMap::from([(2, (12, Health::Healthy))]));
        assert!(e.take("b").is_empty());
        assert_eq!(e.len(), 0);
    }

    #[test]
    fn at_the_bound_new_reports_are_dropped() {
        let mut e = EarlyReports::default();
        let a: Arc<str> = Arc::from("a");
        for k in 0..EARLY_REPORTS_MAX as u64 + 10 {
            e.note(&a, k, true, Health::Healthy, 0);
        }
        assert_eq!(e.len(), EARLY_REPORTS_MAX);
        e.note(&a, 0, false, Health::Unhealthy, 1);
        e.note(&a, u64::MAX, true, Health::Healthy, 1);
        assert_eq!(e.len(), EARLY_REPORTS_MAX);
    }
}
