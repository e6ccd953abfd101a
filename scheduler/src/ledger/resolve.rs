//! The merge rule as one pure function: the apps a set of actions adds up to (see the
//! module docs of [`super`]). Its output depends on the set alone: every loop below runs
//! over ordered maps, and ties break on action ids.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Action, ActionId, KeyIndex, LedgerApp, OwnerOp};
use crate::expiry::removal_height;
use crate::protocol::{AppRecord, ChainClock};

/// What became of one registration.
#[derive(Debug, Clone)]
pub(super) struct RegFate {
    pub id: ActionId,
    pub accepted: bool,
    /// Where its own actions put its end (for an accepted registration, the app's end).
    pub end: u64,
    /// For a lost registration: the end of the app that beat it (its loss is final, and
    /// it can go, from that height on).
    pub blocked_until: u64,
    /// The renewals and cancels that belong to it, superseded ones included.
    pub ops: Vec<ActionId>,
}

impl RegFate {
    /// The height from which the registration, its actions and the registrations that
    /// lost to it can leave the ledger.
    pub fn gone_at(&self) -> u64 {
        if self.accepted {
            self.end
        } else {
            self.blocked_until
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Resolved {
    pub apps: BTreeMap<String, LedgerApp>,
    pub regs: Vec<RegFate>,
    pub superseded: Vec<ActionId>,
    /// Renewals and cancels without their registration, per name key (non-zero only).
    pub pending: BTreeMap<String, usize>,
}

/// One registration with its own actions folded in.
struct Folded {
    app: LedgerApp,
    ops: Vec<ActionId>,
}

/// Resolves the names in `keys`. Exact for any set of keys closed under sharing a host
/// port (see [`super::Ledger`]'s components): the sweep decides a registration from the
/// registrations of its own name and ports only.
pub(super) fn resolve<'a, T: 'a>(
    actions: &BTreeMap<ActionId, Action<T>>,
    keys: impl IntoIterator<Item = (&'a String, &'a KeyIndex)>,
    clock: &ChainClock,
) -> Resolved {
    let mut out = Resolved::default();
    let mut folded: BTreeMap<ActionId, Folded> = BTreeMap::new();
    let mut order: BTreeSet<(u64, ActionId, &str)> = BTreeSet::new();
    for (key, k) in keys {
        // The owner's registrations of this name by (seq, id): an action belongs to the
        // greatest one below its own seq.
        let mut by_owner: BTreeMap<&str, Vec<(u64, ActionId)>> = BTreeMap::new();
        for (h, id) in &k.regs {
            if let Some(a) = actions.get(id) {
                by_owner.entry(&a.owner).or_default().push((a.seq, *id));
                order.insert((*h, *id, key.as_str()));
            }
        }
        for regs in by_owner.values_mut() {
            regs.sort_unstable();
        }
        let mut attached: BTreeMap<ActionId, Vec<&Action<T>>> = BTreeMap::new();
        for (owner, seq, id) in &k.ops {
            let target = by_owner
                .get(owner.as_ref())
                .and_then(|regs| regs.iter().rev().find(|(s, _)| s < seq))
                .map(|&(_, r)| r);
            match (target, actions.get(id)) {
                (Some(r), Some(a)) => attached.entry(r).or_default().push(a),
                _ => *out.pending.entry(key.clone()).or_default() += 1,
            }
        }
        for regs in by_owner.values() {
            for &(_, rid) in regs {
                let Some(reg) = actions.get(&rid) else {
                    continue;
                };
                let OwnerOp::Register(record) = &reg.op else {
                    continue;
                };
                let ops = attached.remove(&rid).unwrap_or_default();
                folded.insert(rid, fold(reg, record, &ops, clock, &mut out.superseded));
            }
        }
    }
    // The sweep: registrations in (height, id) order; names and ports are held from an
    // accepted registration's height until its end.
    let mut name_end: BTreeMap<&str, u64> = BTreeMap::new();
    let mut port_end: BTreeMap<u16, u64> = BTreeMap::new();
    for (h, id, key) in order {
        let Some(f) = folded.remove(&id) else {
            continue;
        };
        let mut blocked = name_end.get(key).copied().filter(|&e| h < e).unwrap_or(0);
        for p in &f.app.record.ports {
            if let Some(&e) = port_end.get(p) {
                if h < e {
                    blocked = blocked.max(e);
                }
            }
        }
        let accepted = blocked == 0;
        if accepted {
            name_end.insert(key, f.app.end);
            for &p in &f.app.record.ports {
                port_end.insert(p, f.app.end);
            }
            out.apps.insert(key.to_string(), f.app.clone());
        }
        out.regs.push(RegFate {
            id,
            accepted,
            end: f.app.end,
            blocked_until: blocked,
            ops: f.ops,
        });
    }
    out
}

/// Applies a registration's own actions in `seq` order: the latest renewal wins, the
/// first cancel is final; everything else is superseded.
fn fold<T>(
    reg: &Action<T>,
    record: &Arc<AppRecord>,
    ops: &[&Action<T>],
    clock: &ChainClock,
    superseded: &mut Vec<ActionId>,
) -> Folded {
    // The registration's spec is version `seq` (the simulator's records may not say so).
    let record = if record.version == reg.seq {
        record.clone()
    } else {
        Arc::new(AppRecord {
            version: reg.seq,
            ..(**record).clone()
        })
    };
    let record = &record;
    let mut app = LedgerApp {
        registration: reg.id,
        record: record.clone(),
        reg_seq: reg.seq,
        height: record.demand.height,
        expire: record.demand.expire,
        cancelled_at: None,
        last_seq: reg.seq,
        end: 0,
        versions: vec![record.clone()],
    };
    let mut renewal: Option<ActionId> = None;
    for op in ops {
        match &op.op {
            OwnerOp::Cancel { .. } if app.cancelled_at.is_none() => {
                app.cancelled_at = Some(clock.height(op.seq).max(record.demand.height));
                app.last_seq = op.seq;
            }
            // An update replaces the spec and, as in FluxOS, counts the subscription from
            // its own height. Its host ports must be the registration's (the sweep below
            // gives ports to registrations; the edge refuses an update that moves them).
            OwnerOp::Update(rec) if app.cancelled_at.is_none() && rec.ports == record.ports => {
                let mut rec = (**rec).clone();
                app.height = rec.demand.height;
                app.expire = rec.demand.expire;
                // The record keeps the registration's name and height: names and ports
                // are held from the registration's height (the sweep, `conflict`, the
                // check); the update's height is the subscription's start, `app.height`.
                rec.name = record.name.clone();
                rec.demand.name = record.demand.name.clone();
                rec.demand.height = record.demand.height;
                rec.version = op.seq;
                let rec = Arc::new(rec);
                app.last_seq = op.seq;
                app.versions.push(rec.clone());
                app.record = rec;
            }
            OwnerOp::Renew { height, expire, .. } if app.cancelled_at.is_none() => {
                if let Some(old) = renewal.replace(op.id) {
                    superseded.push(old);
                }
                app.height = *height;
                app.expire = *expire;
                app.last_seq = op.seq;
            }
            _ => superseded.push(op.id),
        }
    }
    let removal = removal_height(app.height, app.expire);
    // A cancelled app holds its name and ports through its cancel's block: a rival
    // registration of the same block was made while the app held the name (it lost when
    // it was made), so the cancel must not hand the name to it afterwards. The name is
    // free from the next block on.
    app.end = app
        .cancelled_at
        .map_or(removal, |c| (c + 1).min(removal))
        .max(record.demand.height);
    Folded {
        app,
        ops: ops.iter().map(|o| o.id).collect(),
    }
}
