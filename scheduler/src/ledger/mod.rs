//! The app ledger: every owner action a node holds, and the apps they add up to.
//!
//! Pure (no I/O, heights are arguments) and shared by the daemon and the simulator, so the
//! rule that decides who holds a name is written once. The daemon carries each action's
//! signed wire form as the payload `T` (to relay it to peers); the simulator carries `()`.
//!
//! # The merge rule
//!
//! The ledger's apps are a function of the *set* of actions held, never of the order they
//! arrived in, so any two nodes holding the same actions show the same apps ([`resolve`]):
//!
//! - Registrations are taken in one global order: registration height, then action id
//!   (the hash of the signed action). Each is accepted when, at its height, its name
//!   (case-insensitive, as in FluxOS) is free and none of its host ports is held by an
//!   accepted app; otherwise it lost, for good. Names and ports are held from an app's
//!   registration height until its `end`: the block after its cancel's (a rival
//!   registration of the cancel's own block was made while the name was held, and stays
//!   lost), or its removal height (expiry + grace) — so a name is free again after a
//!   cancel or a removal.
//! - Renewals and cancels are ordered by the owner-signed sequence number (`seq`, the
//!   owner's signing time in ms). An action belongs to the registration of the same
//!   name and owner with the greatest `seq` below its own, so an action signed for an old
//!   app can never touch a newer app of the same name. Within one app the latest renewal
//!   wins and a cancel is final; a superseded action (an older renewal, a renewal after
//!   the cancel, a second cancel) has no effect. It is still held: the ledger is a
//!   grow-only set of actions plus this rule, which is what makes it converge (dropping a
//!   superseded action would depend on which registrations had arrived by then).
//!
//! # Bounded state
//!
//! [`Ledger::prune`] drops every app whose `end` has passed, with its actions and the
//! registrations that lost to it, leaving a tombstone per name (a height below which
//! registrations and a sequence number up to which actions are refused) until the last
//! dropped registration could no longer be alive anyway. A registration already past its
//! own removal height is refused on arrival, so a tombstone need not outlive that.

mod check;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::expiry::removal_height;
use crate::protocol::{AppRecord, ChainClock};

pub use check::LedgerCheckError;
use resolve::{RegFate, Resolved, resolve};

/// Identifies an action: SHA-256 of its signed form (the daemon), or any collision-free
/// 32 bytes (the simulator).
pub type ActionId = [u8; 32];

/// Most renewals and cancels held before their registration arrives. Such actions are
/// legitimate only in the short window where gossip delivers them out of order; 4,096
/// covers a burst on a network of thousands of apps while bounding what a stranger's
/// key can make a node hold.
pub const MAX_PENDING: usize = 4_096;

/// What an owner did.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnerOp {
    Register(Arc<AppRecord>),
    /// A new spec for the app (a rolling update): its record, `version` = the action's
    /// `seq`, `demand.height` the update's height, from which `demand.expire` counts.
    Update(Arc<AppRecord>),
    Renew {
        app: Arc<str>,
        height: u64,
        expire: u32,
    },
    Cancel {
        app: Arc<str>,
    },
}

impl OwnerOp {
    pub fn app(&self) -> &str {
        match self {
            OwnerOp::Register(r) | OwnerOp::Update(r) => &r.name,
            OwnerOp::Renew { app, .. } | OwnerOp::Cancel { app } => app,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            OwnerOp::Register(_) => "register",
            OwnerOp::Renew { .. } => "renew",
            OwnerOp::Cancel { .. } => "cancel",
            OwnerOp::Update(_) => "update",
        }
    }
}

/// One owner action, checked (signature, spec) by whoever built it.
#[derive(Debug, Clone)]
pub struct Action<T> {
    pub id: ActionId,
    /// The owner's key, text form.
    pub owner: Arc<str>,
    /// Owner-signed sequence number: orders this owner's actions.
    pub seq: u64,
    pub op: OwnerOp,
    pub payload: T,
}

impl Action<()> {
    /// An action without a signed form (the simulator, tests): its id is SHA-256 of its
    /// fields, so equal fields are one action and different fields never collide.
    pub fn unsigned(owner: &str, seq: u64, op: OwnerOp) -> Self {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        h.update(op.kind().as_bytes());
        h.update([0]);
        h.update(owner.as_bytes());
        h.update([0]);
        h.update(seq.to_be_bytes());
        match &op {
            OwnerOp::Register(r) | OwnerOp::Update(r) => {
                h.update(r.name.as_bytes());
                h.update([0]);
                h.update(r.demand.height.to_be_bytes());
                h.update(r.demand.expire.to_be_bytes());
                h.update(r.demand.instances.to_be_bytes());
                h.update(r.version.to_be_bytes());
                for p in &r.ports {
                    h.update(p.to_be_bytes());
                }
            }
            OwnerOp::Renew {
                app,
                height,
                expire,
            } => {
                h.update(app.as_bytes());
                h.update([0]);
                h.update(height.to_be_bytes());
                h.update(expire.to_be_bytes());
            }
            OwnerOp::Cancel { app } => h.update(app.as_bytes()),
        }
        Action {
            id: h.finalize().into(),
            owner: Arc::from(owner),
            seq,
            op,
            payload: (),
        }
    }
}

/// The key a name is held under: names are case-insensitive.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// An app as the ledger holds it: its accepted registration with the owner's later
/// actions folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerApp {
    pub registration: ActionId,
    pub record: Arc<AppRecord>,
    pub reg_seq: u64,
    /// Height of the registration or of the renewal in force, and the subscription
    /// length from it.
    pub height: u64,
    pub expire: u32,
    /// Height of the cancel, if cancelled.
    pub cancelled_at: Option<u64>,
    /// `seq` of the last action applied to the app.
    pub last_seq: u64,
    /// First height at which the name and ports are free again.
    pub end: u64,
    /// Every spec the owner set, oldest first (the registration's, then each update's
    /// in `seq` order); the last is `record`. A reverted rollout goes back to one of them.
    pub versions: Vec<Arc<AppRecord>>,
}

impl LedgerApp {
    pub fn name(&self) -> &Arc<str> {
        &self.record.name
    }

    pub fn owner(&self) -> &str {
        &self.record.owner
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled_at.is_some()
    }
}

/// What became of an inserted action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Held now (it may have lost: see the app's state).
    Held,
    /// Already held: nothing changed.
    Duplicate,
    /// Superseded by an action already held (an older renewal, a second cancel, a renewal
    /// after the cancel): held, but it changes nothing.
    Superseded,
}

/// An app whose state changed: `before` and `after` under one name key.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub before: Option<LedgerApp>,
    pub after: Option<LedgerApp>,
}

impl Change {
    /// The registration holding the name changed (another owner or spec won, or the name
    /// went to a new app): instances of `before` must stop.
    pub fn replaced(&self) -> bool {
        matches!((&self.before, &self.after), (Some(b), Some(a)) if b.registration != a.registration)
    }
}

/// The result of [`Ledger::insert`].
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    pub outcome: Outcome,
    pub changes: Vec<Change>,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "app {app:?}: this action is older than the app's last removal (a replay); register the name anew"
    )]
    Stale { app: String },
    #[error(
        "app {app:?}: the registration's removal height {removal} has passed (chain height {height}); register anew"
    )]
    Ended {
        app: String,
        removal: u64,
        height: u64,
    },
    #[error(
        "app {app:?}: {MAX_PENDING} actions already wait for their registration; send the registration first"
    )]
    TooManyPending { app: String },
}

/// What holds a name or port a registration wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    Name { holder: String, owner: String },
    Port { port: u16, holder: String },
}

/// What a pruned name leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tomb {
    /// Registrations below this height are refused.
    horizon: u64,
    /// Actions with a `seq` up to this are refused.
    seq: u64,
    /// The tombstone goes at this height: every dropped registration is past its own
    /// removal height, so the `Ended` rule refuses it.
    until: u64,
}

/// A compact summary of the actions held: equal digests mean (but for a SHA-256
/// collision) equal sets. XOR of ids, so adding or dropping one action costs O(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest {
    pub count: u64,
    pub xor: [u8; 32],
}

impl Digest {
    fn toggle(&mut self, id: &ActionId, add: bool) {
        for (a, b) in self.xor.iter_mut().zip(id) {
            *a ^= b;
        }
        if add {
            self.count += 1;
        } else {
            self.count = self.count.saturating_sub(1);
        }
    }

    /// Hex of the first 8 bytes and the count, for status pages and logs.
    pub fn short(&self) -> String {
        let hex: String = self.xor[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.count)
    }
}

/// Per name key: the registrations and the other actions held.
#[derive(Debug, Clone, Default)]
struct KeyIndex {
    /// (registration height, id).
    regs: BTreeSet<(u64, ActionId)>,
    /// (owner, seq, id) of renewals and cancels.
    ops: BTreeSet<(Arc<str>, u64, ActionId)>,
}

/// The ledger. Its apps are derived incrementally: an action can only change the apps of
/// its *component* — the names linked to its own by registrations sharing a host port —
/// so an insert or a prune re-resolves that component alone (usually one name), never the
/// whole ledger. [`Ledger::check`] compares against a resolution from scratch.
#[derive(Debug, Clone)]
pub struct Ledger<T> {
    clock: ChainClock,
    actions: BTreeMap<ActionId, Action<T>>,
    keys: BTreeMap<String, KeyIndex>,
    apps: BTreeMap<String, LedgerApp>,
    tombs: BTreeMap<String, Tomb>,
    /// (until, name key) of every tombstone, so expiry does not scan them all.
    tomb_expiry: BTreeSet<(u64, String)>,
    digest: Digest,
    /// Per host port, the name keys with a registration using it (and how many).
    port_keys: BTreeMap<u16, BTreeMap<String, u32>>,
    /// The fate of every registration held, as the last resolution of its component left it.
    fates: BTreeMap<ActionId, RegFate>,
    /// (height it can go at, registration) of every registration held: what prune visits.
    gone: BTreeSet<(u64, ActionId)>,
    /// Renewals and cancels waiting for their registration, per name key.
    pending_by_key: BTreeMap<String, usize>,
    pending: usize,
}

impl<T: Clone> Ledger<T> {
    /// An empty ledger. `clock` turns a cancel's `seq` (the owner's signing time) into
    /// the height its app ends at; every node runs the same chain clock.
    pub fn new(clock: ChainClock) -> Self {
        Self {
            clock,
            actions: BTreeMap::new(),
            keys: BTreeMap::new(),
            apps: BTreeMap::new(),
            tombs: BTreeMap::new(),
            tomb_expiry: BTreeSet::new(),
            digest: Digest::default(),
            port_keys: BTreeMap::new(),
            fates: BTreeMap::new(),
            gone: BTreeSet::new(),
            pending_by_key: BTreeMap::new(),
            pending: 0,
        }
    }

    pub fn clock(&self) -> ChainClock {
        self.clock
    }

    /// The app holding `name` (any case), if any.
    pub fn app(&self, name: &str) -> Option<&LedgerApp> {
        self.apps.get(&name_key(name))
    }

    /// Every app, by name key.
    pub fn apps(&self) -> impl Iterator<Item = &LedgerApp> {
        self.apps.values()
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// Every action held, by id.
    pub fn actions(&self) -> impl Iterator<Item = &Action<T>> {
        self.actions.values()
    }

    pub fn action(&self, id: &ActionId) -> Option<&Action<T>> {
        self.actions.get(id)
    }

    pub fn contains(&self, id: &ActionId) -> bool {
        self.actions.contains_key(id)
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The actions held split into `n` buckets by the first byte of their id modulo `n`:
    /// per bucket the count and the first 8 bytes of the XOR of its ids. Two nodes
    /// exchange these to find which part of their ledgers differ (anti-entropy).
    pub fn buckets(&self, n: usize) -> Vec<(u32, u64)> {
        let n = n.max(1);
        let mut out = vec![(0u32, 0u64); n];
        for id in self.actions.keys() {
            let b = &mut out[bucket_of(id, n)];
            b.0 += 1;
            let mut head = [0u8; 8];
            head.copy_from_slice(&id[..8]);
            b.1 ^= u64::from_be_bytes(head);
        }
        out
    }

    /// The actions of the buckets marked in `which` (see [`Ledger::buckets`]).
    pub fn actions_in_buckets<'a>(
        &'a self,
        which: &'a [bool],
    ) -> impl Iterator<Item = &'a Action<T>> + 'a {
        let n = which.len().max(1);
        self.actions
            .values()
            .filter(move |a| which.get(bucket_of(&a.id, n)).copied().unwrap_or(false))
    }

    /// Names with a tombstone now.
    pub fn tombstones(&self) -> usize {
        self.tombs.len()
    }

    /// Renewals and cancels waiting for their registration.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Adds one action at chain height `height` and returns what changed.
    pub fn insert(&mut self, action: Action<T>, height: u64) -> Result<Inserted, LedgerError> {
        if self.actions.contains_key(&action.id) {
            return Ok(Inserted {
                outcome: Outcome::Duplicate,
                changes: Vec::new(),
            });
        }
        let key = name_key(action.op.app());
        if let Some(t) = self.tombs.get(&key) {
            let stale = match &action.op {
                OwnerOp::Register(r) => r.demand.height < t.horizon,
                _ => action.seq <= t.seq,
            };
            if stale {
                return Err(LedgerError::Stale {
                    app: action.op.app().to_string(),
                });
            }
        }
        match &action.op {
            OwnerOp::Register(r) => {
                let removal = removal_height(r.demand.height, r.demand.expire);
                if removal <= height {
                    return Err(LedgerError::Ended {
                        app: r.name.to_string(),
                        removal,
                        height,
                    });
                }
            }
            _ => {
                if self.pending >= MAX_PENDING {
                    return Err(LedgerError::TooManyPending {
                        app: action.op.app().to_string(),
                    });
                }
            }
        }
        let id = action.id;
        self.index(action);
        let comp = self.component([key]);
        let (changes, superseded) = self.rederive(&comp);
        let outcome = if superseded.contains(&id) {
            Outcome::Superseded
        } else {
            Outcome::Held
        };
        Ok(Inserted { outcome, changes })
    }

    fn index(&mut self, action: Action<T>) {
        let key = name_key(action.op.app());
        let k = self.keys.entry(key.clone()).or_default();
        match &action.op {
            OwnerOp::Register(r) => {
                k.regs.insert((r.demand.height, action.id));
                for &p in &r.ports {
                    *self
                        .port_keys
                        .entry(p)
                        .or_default()
                        .entry(key.clone())
                        .or_default() += 1;
                }
            }
            _ => {
                k.ops.insert((action.owner.clone(), action.seq, action.id));
            }
        }
        self.digest.toggle(&action.id, true);
        self.actions.insert(action.id, action);
    }

    fn unindex(&mut self, id: &ActionId) {
        let Some(action) = self.actions.remove(id) else {
            return;
        };
        self.digest.toggle(id, false);
        if let Some(f) = self.fates.remove(id) {
            self.gone.remove(&(f.gone_at(), *id));
        }
        let key = name_key(action.op.app());
        if let OwnerOp::Register(r) = &action.op {
            for p in &r.ports {
                if let Some(by_key) = self.port_keys.get_mut(p) {
                    if let Some(n) = by_key.get_mut(&key) {
                        *n -= 1;
                        if *n == 0 {
                            by_key.remove(&key);
                        }
                    }
                    if by_key.is_empty() {
                        self.port_keys.remove(p);
                    }
                }
            }
        }
        if let Some(k) = self.keys.get_mut(&key) {
            match &action.op {
                OwnerOp::Register(r) => {
                    k.regs.remove(&(r.demand.height, *id));
                }
                _ => {
                    k.ops.remove(&(action.owner.clone(), action.seq, *id));
                }
            }
            if k.regs.is_empty() && k.ops.is_empty() {
                self.keys.remove(&key);
            }
        }
    }

    /// The name keys linked to `seeds` through registrations sharing a host port, the
    /// seeds included (present or not).
    fn component(&self, seeds: impl IntoIterator<Item = String>) -> BTreeSet<String> {
        self.extend_component(seeds.into_iter().collect())
    }

    fn extend_component(&self, mut comp: BTreeSet<String>) -> BTreeSet<String> {
        let mut todo: Vec<String> = comp.iter().cloned().collect();
        let mut ports_seen: BTreeSet<u16> = BTreeSet::new();
        while let Some(key) = todo.pop() {
            let Some(k) = self.keys.get(&key) else {
                continue;
            };
            for (_, id) in &k.regs {
                let Some(Action {
                    op: OwnerOp::Register(r),
                    ..
                }) = self.actions.get(id)
                else {
                    continue;
                };
                for p in &r.ports {
                    if !ports_seen.insert(*p) {
                        continue;
                    }
                    for other in self.port_keys.get(p).into_iter().flat_map(|m| m.keys()) {
                        if comp.insert(other.clone()) {
                            todo.push(other.clone());
                        }
                    }
                }
            }
        }
        comp
    }

    /// Re-derives the apps of the names in `comp` (a whole component) from the actions
    /// held; returns the apps that changed and the actions that have no effect.
    fn rederive(&mut self, comp: &BTreeSet<String>) -> (Vec<Change>, Vec<ActionId>) {
        let Resolved {
            apps,
            regs,
            superseded,
            pending,
        } = resolve(
            &self.actions,
            comp.iter()
                .filter_map(|key| self.keys.get(key).map(|k| (key, k))),
            &self.clock,
        );
        for key in comp {
            if let Some(n) = self.pending_by_key.remove(key) {
                self.pending -= n;
            }
            if let Some(k) = self.keys.get(key) {
                for (_, id) in &k.regs {
                    if let Some(f) = self.fates.remove(id) {
                        self.gone.remove(&(f.gone_at(), *id));
                    }
                }
            }
        }
        for (key, n) in pending {
            self.pending += n;
            self.pending_by_key.insert(key, n);
        }
        for f in regs {
            self.gone.insert((f.gone_at(), f.id));
            self.fates.insert(f.id, f);
        }
        let mut changes = Vec::new();
        for key in comp {
            let before = self.apps.remove(key);
            let after = apps.get(key).cloned();
            if before != after {
                changes.push(Change {
                    key: key.clone(),
                    before,
                    after: after.clone(),
                });
            }
            if let Some(a) = after {
                self.apps.insert(key.clone(), a);
            }
        }
        (changes, superseded)
    }

    /// Drops apps whose end has passed at `height`, with their actions and the
    /// registrations that lost to them, leaving tombstones; forgets tombstones that have
    /// served their time. Returns the apps that left.
    pub fn prune(&mut self, height: u64) -> Vec<Change> {
        self.prune_dropped(height).0
    }

    /// [`Ledger::prune`], also returning the ids of the actions dropped.
    pub fn prune_dropped(&mut self, height: u64) -> (Vec<Change>, Vec<ActionId>) {
        while let Some((until, key)) = self.tomb_expiry.first().cloned() {
            if until > height {
                break;
            }
            self.tomb_expiry.pop_first();
            self.tombs.remove(&key);
        }
        let due: Vec<ActionId> = self
            .gone
            .range(..=(height, [0xff; 32]))
            .map(|(_, id)| *id)
            .collect();
        if due.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let mut drop: Vec<ActionId> = Vec::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for id in due {
            let (Some(fate), Some(a)) = (self.fates.get(&id), self.actions.get(&id)) else {
                continue;
            };
            let OwnerOp::Register(rec) = &a.op else {
                continue;
            };
            let key = name_key(&rec.name);
            let horizon = if fate.accepted {
                fate.end
            } else {
                rec.demand.height + 1
            };
            let mut seq = a.seq;
            for op in &fate.ops {
                if let Some(o) = self.actions.get(op) {
                    seq = seq.max(o.seq);
                }
            }
            let until = removal_height(rec.demand.height, rec.demand.expire).max(fate.end);
            touched.insert(key.clone());
            let t = self.tombs.entry(key.clone()).or_insert(Tomb {
                horizon,
                seq,
                until,
            });
            self.tomb_expiry.remove(&(t.until, key.clone()));
            t.horizon = t.horizon.max(horizon);
            t.seq = t.seq.max(seq);
            t.until = t.until.max(until);
            self.tomb_expiry.insert((t.until, key));
            drop.push(id);
            drop.extend(fate.ops.iter().copied());
        }
        // Renewals and cancels still waiting under a name tombstoned now that the
        // tombstone would refuse go too.
        for key in &touched {
            if let (Some(t), Some(k)) = (self.tombs.get(key), self.keys.get(key)) {
                drop.extend(
                    k.ops
                        .iter()
                        .filter(|(_, s, _)| *s <= t.seq)
                        .map(|(_, _, id)| *id),
                );
            }
        }
        // The component as it was: dropping registrations can only split it.
        let comp = self.component(touched);
        drop.sort_unstable();
        drop.dedup();
        for id in &drop {
            self.unindex(id);
        }
        let changes = self.rederive(&comp).0;
        (changes, drop)
    }

    /// Why a new registration of `record` would lose to an app held now, if it would:
    /// the name or one of its host ports is taken over the registration's height. Lets the
    /// first node an owner talks to refuse a registration that cannot win, rather than
    /// gossip it. (The held app could still lose to an even earlier registration it has
    /// not seen; the merge settles that.)
    pub fn conflict(&self, record: &AppRecord) -> Option<Conflict> {
        let h = record.demand.height;
        let holds = |a: &LedgerApp| a.record.demand.height <= h && h < a.end;
        if let Some(a) = self.app(&record.name).filter(|a| holds(a)) {
            return Some(Conflict::Name {
                holder: a.record.name.to_string(),
                owner: a.owner().to_string(),
            });
        }
        for a in self.apps.values().filter(|a| holds(a)) {
            if let Some(&port) = a.record.ports.iter().find(|p| record.ports.contains(p)) {
                return Some(Conflict::Port {
                    port,
                    holder: a.record.name.to_string(),
                });
            }
        }
        None
    }

    /// Checks the ledger's invariants (see [`check`]).
    pub fn check(&self) -> Result<(), LedgerCheckError> {
        check::check(self)
    }
}

fn bucket_of(id: &ActionId, n: usize) -> usize {
    usize::from(id[0]) % n
}
