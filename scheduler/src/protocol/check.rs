//! The node's own invariants, checked by tests and by the simulator after every step.

use super::node::Node;
use super::{Millis, Peer};

/// A broken node invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("apps and open bids hold more than the node offers")]
    Overcommit,
    #[error("{0} reservations outlived their round")]
    LeakedReservations(usize),
    #[error("app {0} is both hosted and reserved")]
    HostedAndReserved(String),
}

impl<P: Peer> Node<P> {
    /// Checks: used + reserved within the offered capacity (apps never exceed what is
    /// free after the system reserve; one instance per app holds by construction, since
    /// instances are keyed by app); no reservation past its lapse time; no bid open for
    /// an app already hosted.
    pub fn check(&self, now: Millis) -> Vec<CheckError> {
        let mut errs = Vec::new();
        let held = self.used.saturating_add(self.reserved());
        if !held.fits_within(&self.offered) {
            errs.push(CheckError::Overcommit);
        }
        // Lapsed reservations are dropped at the next tick (one tick of slack allowed).
        let leaked = self
            .reservations
            .values()
            .filter(|r| r.until + super::TICK < now)
            .count();
        if leaked > 0 {
            errs.push(CheckError::LeakedReservations(leaked));
        }
        for (app, _, _) in self.reservations.keys() {
            if self.hosted.contains_key(app) {
                errs.push(CheckError::HostedAndReserved(app.to_string()));
            }
        }
        errs
    }

    /// Reservations still held (for the simulator's leak counter).
    pub fn reservations_len(&self) -> usize {
        self.reservations.len()
    }
}
