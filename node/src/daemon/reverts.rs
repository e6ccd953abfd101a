//! Reverted rollouts, kept across restarts.
//!
//! A revert is not an owner action, so it is not in the ledger: a host of the app
//! announces it ([`Msg::Reverted`]) and each view takes it from a node it knows runs the
//! app. A restarted node has no running reports yet and would take the failed version for
//! the target again: as its group's coordinator it rolled it out a second time and reverted
//! again at the deadline, with one instance down meanwhile. So every revert a node takes is
//! stored (`reverts` tree) and given back to its view at start.

use std::sync::Arc;

use proto::keys::NodeId;
use scheduler::protocol::{Millis, Msg, Reverted};
use serde::{Deserialize, Serialize};

use super::Daemon;
use crate::store::Tree;

/// A revert as stored, keyed by app name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertRecord {
    /// The version whose rollout failed.
    pub version: u64,
    /// The version the app went back to.
    pub good: u64,
    pub reason: String,
    /// The node that reverted it.
    pub by: String,
    /// When this node took it (unix ms).
    pub at_ms: Millis,
}

impl From<&Reverted> for RevertRecord {
    fn from(r: &Reverted) -> Self {
        RevertRecord {
            version: r.version,
            good: r.good,
            reason: r.reason.to_string(),
            by: r.by.clone(),
            at_ms: r.at,
        }
    }
}

impl From<RevertRecord> for Reverted {
    fn from(r: RevertRecord) -> Self {
        Reverted {
            version: r.version,
            good: r.good,
            reason: Arc::from(r.reason),
            by: r.by,
            at: r.at_ms,
        }
    }
}

impl Daemon {
    /// Applies a revert (this node's own or a peer's) to the view; when the view took it,
    /// logs it, counts it and stores it.
    pub(super) fn take_revert(&mut self, msg: &Msg<NodeId>, now: Millis) {
        let Msg::Reverted { app, .. } = msg else {
            return;
        };
        let before = self.view.app(app).and_then(|e| e.reverted.clone());
        let _ = self.view.apply(msg, now);
        let Some(r) = self.view.app(app).and_then(|e| e.reverted.clone()) else {
            return;
        };
        if before.as_ref() == Some(&r) {
            return;
        }
        tracing::warn!(app = %app, version = r.version, good = r.good, by = %r.by, reason = %r.reason, "rollout reverted");
        self.metrics.rollouts_reverted.inc();
        if let Err(e) = self.store.put(Tree::Reverts, app, &RevertRecord::from(&r)) {
            tracing::warn!(app = %app, error = %e, "could not store the revert; a restart would roll the failed version out again");
        }
    }

    /// Gives the view back the reverts stored before a restart. One that no longer applies
    /// (the app is gone or has a newer version) is deleted.
    pub(super) fn restore_reverts(&mut self) {
        for (app, rec) in self.stored::<RevertRecord>(Tree::Reverts) {
            let (version, good) = (rec.version, rec.good);
            if self.view.restore_revert(&app, rec.into()) {
                tracing::info!(app = %app, version, good, "rollout reverted before the restart; staying on the good version");
            } else if let Err(e) = self.store.delete(Tree::Reverts, &app) {
                tracing::warn!(app = %app, error = %e, "could not delete a revert that no longer applies");
            }
        }
    }
}
