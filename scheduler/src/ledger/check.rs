//! The ledger's invariants, checked from scratch (tests and the simulator call this).

use std::collections::BTreeMap;

use super::resolve::resolve;
use super::{Digest, Ledger, name_key};

/// A broken ledger invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerCheckError {
    #[error("app {name:?} is held under key {key:?}; names are keyed in lower case")]
    Key { key: String, name: String },
    #[error("app {app:?}: its registration is not among the actions held")]
    Registration { app: String },
    #[error("apps {a:?} and {b:?} both hold host port {port} over heights they share")]
    Port { port: u16, a: String, b: String },
    #[error("the digest {held} does not match the actions held ({actual})")]
    Digest { held: String, actual: String },
    #[error("the apps held differ from what the actions held add up to")]
    Stale,
}

pub(super) fn check<T: Clone>(l: &Ledger<T>) -> Result<(), LedgerCheckError> {
    let mut digest = Digest::default();
    for id in l.actions.keys() {
        digest.toggle(id, true);
    }
    if digest != l.digest {
        return Err(LedgerCheckError::Digest {
            held: l.digest.short(),
            actual: digest.short(),
        });
    }
    let mut ports: BTreeMap<u16, Vec<(u64, u64, &str)>> = BTreeMap::new();
    for (key, app) in &l.apps {
        if *key != name_key(&app.record.name) {
            return Err(LedgerCheckError::Key {
                key: key.clone(),
                name: app.record.name.to_string(),
            });
        }
        if !l.actions.contains_key(&app.registration) {
            return Err(LedgerCheckError::Registration {
                app: app.record.name.to_string(),
            });
        }
        for &p in &app.record.ports {
            let span = (app.record.demand.height, app.end, app.record.name.as_ref());
            let held = ports.entry(p).or_default();
            if let Some(o) = held.iter().find(|o| o.0 < span.1 && span.0 < o.1) {
                return Err(LedgerCheckError::Port {
                    port: p,
                    a: o.2.to_string(),
                    b: span.2.to_string(),
                });
            }
            held.push(span);
        }
    }
    let fresh = resolve(&l.actions, &l.keys, &l.clock);
    let fates_match = fresh.regs.len() == l.fates.len()
        && fresh.regs.iter().all(|f| {
            l.fates.get(&f.id).is_some_and(|g| {
                (g.accepted, g.end, g.blocked_until) == (f.accepted, f.end, f.blocked_until)
            })
        });
    let pending: usize = fresh.pending.values().sum();
    if fresh.apps != l.apps || !fates_match || pending != l.pending {
        return Err(LedgerCheckError::Stale);
    }
    Ok(())
}
