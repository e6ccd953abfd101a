//! A node's standing as this node observes it: placements it was given that never came to
//! serve (issue #19). A node's announcement is its own word — capacity, benchmark, that it
//! can run containers at all — and a liar that claims the most wins every round it is
//! called to. What it cannot fake is serving: so the coordinator that assigned it an
//! instance watches what comes of it, and a winner that gives the instance back before it
//! ever served, while the app serves elsewhere, earns a strike. A struck node is not called
//! for bids (for any app) until its hold-off ends; each further strike doubles the
//! hold-off.
//!
//! Kept per observer: each node judges by what it saw itself, so a liar cannot strike an
//! honest node by saying so. "While the app serves elsewhere" is what keeps a broken app
//! (an image that cannot be pulled, a command that exits) from striking every honest node
//! that tries it: then no instance serves, and the failure is the app's, not the host's.
//! Records are persisted by the daemon ([`PersistRecord::Standing`]) and given back at
//! start-up ([`super::Input::Standing`]), so a restart does not clear a liar's record.
//!
//! [`PersistRecord::Standing`]: super::PersistRecord::Standing

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{GIVE_UP_HOLD_OFF, Millis, Peer};

/// Longest hold-off: a day. Past it a node that kept failing is tried once more a day,
/// which costs one failed placement; a forever-ban would also bar an operator who fixed
/// the host.
pub const MAX_STRIKE_HOLD_OFF: Millis = 24 * 60 * 60 * 1000;

/// How long a placement is watched for its first healthy report: the start grace a new
/// member has before its silence counts (30 s), plus an image pull and the health check's
/// first verdict (Kubernetes-like default period 5 s × 3) with room to spare. Past it the
/// placement is forgotten without a strike: a slow start is not a lie.
pub const WATCH_PLACEMENT_FOR: Millis = 300_000;

/// Strikes against one node and when its hold-off ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strikes {
    pub count: u32,
    pub until: Millis,
}

impl Strikes {
    /// The hold-off after the `count`-th strike: [`GIVE_UP_HOLD_OFF`] (the time a host
    /// holds itself off an app it gave up), doubled per further strike, at most
    /// [`MAX_STRIKE_HOLD_OFF`].
    pub fn hold_off(count: u32) -> Millis {
        let doublings = count.saturating_sub(1).min(16);
        GIVE_UP_HOLD_OFF
            .saturating_mul(1 << doublings)
            .min(MAX_STRIKE_HOLD_OFF)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Standing<P> {
    /// Strikes by node; kept after the hold-off ends (the next one is longer).
    strikes: BTreeMap<P, Strikes>,
    /// Placements this node assigned and is watching: app → winner → when assigned.
    watched: BTreeMap<Arc<str>, BTreeMap<P, Millis>>,
    /// Placements given back unserved while the app served nowhere else yet: app → node →
    /// when. A strike if the app comes to serve elsewhere within
    /// [`WATCH_PLACEMENT_FOR`]: a liar fails at once, before any honest instance is up,
    /// and judged only at that moment it was never struck (`daemon_liar`, once hosts
    /// stopped retrying an app whose start failed).
    unserved: BTreeMap<Arc<str>, BTreeMap<P, Millis>>,
}

impl<P: Peer> Default for Standing<P> {
    fn default() -> Self {
        Self {
            strikes: BTreeMap::new(),
            watched: BTreeMap::new(),
            unserved: BTreeMap::new(),
        }
    }
}

impl<P: Peer> Standing<P> {
    /// Whether `p` is held off now.
    pub fn held_off(&self, p: P, now: Millis) -> bool {
        self.strikes.get(&p).is_some_and(|s| s.until > now)
    }

    /// Nodes held off now.
    pub fn held_off_now(&self, now: Millis) -> impl Iterator<Item = P> + '_ {
        self.strikes
            .iter()
            .filter(move |(_, s)| s.until > now)
            .map(|(&p, _)| p)
    }

    pub fn strikes(&self) -> impl Iterator<Item = (P, Strikes)> + '_ {
        self.strikes.iter().map(|(&p, &s)| (p, s))
    }

    /// A record given back at start-up; the later of the two wins.
    pub fn restore(&mut self, p: P, s: Strikes) {
        let e = self.strikes.entry(p).or_insert(s);
        if s.count > e.count || s.until > e.until {
            *e = s;
        }
    }

    pub fn watches(&self, app: &str, p: P) -> bool {
        self.watched.get(app).is_some_and(|w| w.contains_key(&p))
    }

    /// This node assigned `app` to `p`.
    pub fn placed(&mut self, app: &Arc<str>, p: P, now: Millis) {
        self.watched.entry(app.clone()).or_default().insert(p, now);
    }

    /// `p` reported its instance of `app` healthy: the placement came to serve. Returns
    /// the strikes this earns the nodes that gave `app` back unserved before it served
    /// anywhere (see [`Standing::gave_back`]).
    pub fn served(&mut self, app: &str, p: P, now: Millis) -> Vec<(P, Strikes)> {
        self.unwatch(app, p);
        // Every waiting verdict is given now; its own earlier failure does not count once
        // it serves the app itself.
        let Some(mut waiting) = self.unserved.remove(app) else {
            return Vec::new();
        };
        waiting.remove(&p);
        waiting
            .into_keys()
            .map(|q| (q, self.strike(q, now)))
            .collect()
    }

    fn strike(&mut self, p: P, now: Millis) -> Strikes {
        let s = self
            .strikes
            .entry(p)
            .or_insert(Strikes { count: 0, until: 0 });
        s.count = s.count.saturating_add(1);
        s.until = now.saturating_add(Strikes::hold_off(s.count));
        *s
    }

    /// Stops watching `app` on `p`; whether it was watched.
    fn unwatch(&mut self, app: &str, p: P) -> bool {
        let Some(w) = self.watched.get_mut(app) else {
            return false;
        };
        let was = w.remove(&p).is_some();
        if w.is_empty() {
            self.watched.remove(app);
        }
        was
    }

    /// `p` gave its instance of `app` back (left the group, reported it not running).
    /// Returns the new record when that is a strike: the placement was watched, never
    /// served, and the app serves elsewhere (`serves_elsewhere`). When it serves nowhere
    /// yet, the verdict waits: the strike comes if it serves elsewhere later
    /// ([`Standing::served`]), and never if it serves nowhere (the app's own fault).
    pub fn gave_back(
        &mut self,
        app: &Arc<str>,
        p: P,
        serves_elsewhere: bool,
        now: Millis,
    ) -> Option<Strikes> {
        if !self.unwatch(app, p) {
            return None;
        }
        if !serves_elsewhere {
            self.unserved.entry(app.clone()).or_default().insert(p, now);
            return None;
        }
        Some(self.strike(p, now))
    }

    /// Forgets placements watched for longer than [`WATCH_PLACEMENT_FOR`] and everything
    /// about an app that is gone.
    pub fn tick(&mut self, now: Millis) {
        for map in [&mut self.watched, &mut self.unserved] {
            map.retain(|_, w| {
                w.retain(|_, &mut t| now.saturating_sub(t) < WATCH_PLACEMENT_FOR);
                !w.is_empty()
            });
        }
    }

    pub fn forget_app(&mut self, app: &str) {
        self.watched.remove(app);
        self.unserved.remove(app);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_off_doubles_per_strike_up_to_a_day() {
        assert_eq!(Strikes::hold_off(1), GIVE_UP_HOLD_OFF);
        assert_eq!(Strikes::hold_off(2), 2 * GIVE_UP_HOLD_OFF);
        assert_eq!(Strikes::hold_off(3), 4 * GIVE_UP_HOLD_OFF);
        assert_eq!(Strikes::hold_off(40), MAX_STRIKE_HOLD_OFF);
    }

    #[test]
    fn only_a_watched_unserved_placement_of_an_app_serving_elsewhere_strikes() {
        let mut s: Standing<u32> = Standing::default();
        let app: Arc<str> = Arc::from("web");
        // Not watched: no strike.
        assert_eq!(s.gave_back(&app, 7, true, 1_000), None);
        // Watched, but the app serves nowhere: no strike yet; and none once the node
        // itself serves the app after all.
        s.placed(&app, 7, 1_000);
        assert_eq!(s.gave_back(&app, 7, false, 2_000), None);
        // Watched, served: no strike when it leaves later.
        s.placed(&app, 7, 3_000);
        assert!(s.served(&app, 7, 3_000).is_empty());
        assert!(
            s.served(&app, 8, 3_100).is_empty(),
            "7's failure was forgiven"
        );
        assert_eq!(s.gave_back(&app, 7, true, 4_000), None);
        // Watched, never served, serves elsewhere: a strike, then a longer one.
        s.placed(&app, 7, 5_000);
        let first = s.gave_back(&app, 7, true, 6_000).unwrap();
        assert_eq!(first.count, 1);
        assert!(s.held_off(7, 6_001) && !s.held_off(8, 6_001));
        s.placed(&app, 7, 7_000);
        let second = s.gave_back(&app, 7, true, 8_000).unwrap();
        assert_eq!(second.until, 8_000 + 2 * GIVE_UP_HOLD_OFF);
        assert!(!s.held_off(7, second.until));
    }

    #[test]
    fn a_placement_given_back_before_the_app_served_anywhere_strikes_once_it_serves_elsewhere() {
        let mut s: Standing<u32> = Standing::default();
        let app: Arc<str> = Arc::from("web");
        s.placed(&app, 7, 1_000);
        s.placed(&app, 8, 1_000);
        // 7 fails at once, before any instance serves: no verdict yet.
        assert_eq!(s.gave_back(&app, 7, false, 1_100), None);
        assert!(!s.held_off(7, 1_200));
        // 8 comes to serve: 7 is struck now.
        let struck = s.served(&app, 8, 2_000);
        assert_eq!(struck.len(), 1);
        assert_eq!(struck[0].0, 7);
        assert!(s.held_off(7, 2_001));
        assert!(s.served(&app, 9, 3_000).is_empty(), "struck once");
        // An app that serves nowhere for the whole watch strikes no one.
        let other: Arc<str> = Arc::from("broken");
        s.placed(&other, 5, 0);
        assert_eq!(s.gave_back(&other, 5, false, 100), None);
        s.tick(100 + WATCH_PLACEMENT_FOR);
        assert!(
            s.served(&other, 6, 100 + WATCH_PLACEMENT_FOR + 1)
                .is_empty()
        );
    }

    #[test]
    fn watched_placements_are_forgotten_without_a_strike() {
        let mut s: Standing<u32> = Standing::default();
        let app: Arc<str> = Arc::from("web");
        s.placed(&app, 7, 0);
        s.tick(WATCH_PLACEMENT_FOR);
        assert_eq!(s.gave_back(&app, 7, true, WATCH_PLACEMENT_FOR + 1), None);
    }

    #[test]
    fn a_restored_record_keeps_the_longer_hold_off() {
        let mut s: Standing<u32> = Standing::default();
        s.restore(
            7,
            Strikes {
                count: 2,
                until: 50,
            },
        );
        s.restore(
            7,
            Strikes {
                count: 1,
                until: 10,
            },
        );
        assert_eq!(
            s.strikes().collect::<Vec<_>>(),
            vec![(
                7,
                Strikes {
                    count: 2,
                    until: 50
                }
            )]
        );
    }
}
