//! The replicated ledgers the per-app protocol reads: membership (from announcements) and
//! the app registry (from owner actions and running reports), plus the chain clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proto::tier::Resources;

use super::early::EarlyReports;
use super::msg::{Health, Msg};
use super::{BACKUPS, MEMBER_DEAD_AFTER, Millis, Peer, START_GRACE, name_hash, rendezvous};
use crate::expiry::{BLOCK_SECONDS, expiry_height, removal_height};
use crate::model::{AppDemand, NodeInfo, Params, Running};
use crate::schedule;

/// Chain height from the clock: `base_height` at `base_ms`, one block per `block_ms`
/// (Flux's 30 s by default; a test network may run faster so expiry can be watched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainClock {
    pub base_height: u64,
    pub base_ms: Millis,
    pub block_ms: Millis,
}

impl ChainClock {
    /// A clock at Flux's block time.
    pub fn new(base_height: u64, base_ms: Millis) -> Self {
        Self {
            base_height,
            base_ms,
            block_ms: BLOCK_SECONDS * 1_000,
        }
    }

    pub fn height(&self, now: Millis) -> u64 {
        self.base_height + now.saturating_sub(self.base_ms) / self.block_ms.max(1)
    }

    /// The first instant at which the chain is at `height` or above.
    pub fn time_of(&self, height: u64) -> Millis {
        self.base_ms + height.saturating_sub(self.base_height) * self.block_ms.max(1)
    }
}

/// Nodes ranked per round on large networks (see [`View::candidates`]): 1,000 of
/// 10,000 still spans every country of the census with a node in it more than a few
/// times over, at a tenth of the cost.
pub const CANDIDATE_SAMPLE: usize = 1_000;

/// A registered app, as validated from its owner-signed registration.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRecord {
    pub name: Arc<str>,
    /// The owner's key (node-id text form); renewals and cancels must come from it.
    pub owner: String,
    /// What the scheduler needs: instances, totals, geolocation, nodes, height, expire.
    pub demand: AppDemand,
    /// Size of the signed spec JSON (for bandwidth accounting).
    pub spec_bytes: u64,
    /// Host ports the app binds: a network-wide resource (see [`crate::ledger`]).
    pub ports: Vec<u16>,
    /// Which spec this is: the owner's signing time (`seq`) of the registration or update
    /// that set it. Instances report the version they run; a rolling update moves them.
    pub version: u64,
}

/// Why a registration was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistrationError {
    #[error("app spec is invalid: {0}")]
    Spec(String),
    #[error("app name {0:?} is already registered by another owner; choose another `name`")]
    NameTaken(String),
    #[error("app name {0:?} is already registered; send a renewal to extend it")]
    AlreadyRegistered(String),
}

impl AppRecord {
    /// Validates an owner-signed registration (signature already checked by the caller)
    /// and turns it into a record: the spec must pass FluxOS validation and name `owner`.
    pub fn from_registration(
        reg: &proto::message::AppRegistration,
        owner: &str,
        version: u64,
    ) -> Result<AppRecord, RegistrationError> {
        let spec = proto::spec::AppSpec::from_json(reg.spec_json.as_bytes())
            .map_err(|e| RegistrationError::Spec(e.to_string()))?;
        Ok(Self::from_spec(
            &spec,
            reg.registered_height,
            reg.spec_json.len(),
            owner,
            version,
        ))
    }

    /// The record of a registration or update (at `height`, spec of `spec_len` bytes,
    /// signed at `version`) whose spec the caller already parsed and validated.
    pub fn from_spec(
        spec: &proto::spec::AppSpec,
        height: u64,
        spec_len: usize,
        owner: &str,
        version: u64,
    ) -> AppRecord {
        let demand = AppDemand::new(spec.name.clone(), spec.instances, spec.totals())
            .with_geolocation(&spec.geolocation)
            .with_nodes(spec.nodes.iter().cloned())
            .with_height(height)
            .with_expire(spec.expire_blocks());
        AppRecord {
            name: Arc::from(spec.name.as_str()),
            owner: owner.to_string(),
            demand,
            spec_bytes: spec_len as u64,
            ports: spec
                .compose
                .iter()
                .flat_map(|c| c.ports.iter().copied())
                .collect(),
            version,
        }
    }
}

/// The registry's state of one app.
#[derive(Debug, Clone)]
pub struct AppEntry {
    pub record: Arc<AppRecord>,
    /// Height of the registration or last renewal, and the subscription length from it.
    pub height: u64,
    pub expire: u32,
    pub cancelled: bool,
    pub hash: u64,
    /// When this view first saw the app.
    pub seen_at: Millis,
    /// Home node (first) and backups, by rendezvous hash over the live membership.
    pub homes: Vec<P0>,
    /// Where the app runs, by running reports: node → time of the report.
    pub locations: BTreeMap<P0, Millis>,
    /// Every spec version the owner has set, oldest first; the last is `record`.
    pub versions: Vec<Arc<AppRecord>>,
    /// The rollout of the latest version failed and the app went back to an older one.
    pub reverted: Option<Reverted>,
}

/// A failed rollout, as a node of the app's group announced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reverted {
    /// The version whose rollout failed.
    pub version: u64,
    /// The version the app went back to.
    pub good: u64,
    pub reason: Arc<str>,
    /// Text form of the node that reverted it.
    pub by: String,
    pub at: Millis,
}

impl AppEntry {
    /// The version new instances start and the group moves to: the latest spec unless
    /// its rollout was reverted.
    pub fn target_version(&self) -> u64 {
        match &self.reverted {
            Some(r) if r.version == self.record.version => r.good,
            _ => self.record.version,
        }
    }

    /// Takes `r` as the app's rollout state when it is about the latest version, goes back
    /// to a version the app has had, and is news; returns whether it did.
    fn take_revert(&mut self, r: Reverted) -> bool {
        let applies = self.record.version == r.version
            && self
                .reverted
                .as_ref()
                .is_none_or(|old| old.version != r.version)
            && self.record_of(r.good).is_some();
        if applies {
            self.reverted = Some(r);
        }
        applies
    }

    /// The record of spec `version`, if the app has had it.
    pub fn record_of(&self, version: u64) -> Option<&Arc<AppRecord>> {
        self.versions
            .iter()
            .rev()
            .find(|r| r.version == version)
            .or_else(|| (self.record.version == version).then_some(&self.record))
    }
}

// `AppEntry` is stored per view; its peer type is the view's. A type alias keeps the
// struct readable while the view stays generic.
type P0 = u64;

/// One node of the membership view.
#[derive(Debug, Clone)]
pub struct Member {
    pub info: NodeInfo,
    pub hash: u64,
    pub last_seen: Millis,
    pub restart_until: Option<Millis>,
    /// Taken for dead by the network (every connection lost, see
    /// [`View::member_unreachable`]) until it is heard from again.
    pub unreachable: bool,
}

impl Member {
    /// Heard from within [`MEMBER_DEAD_AFTER`] and not unreachable.
    pub fn live(&self, now: Millis) -> bool {
        !self.unreachable && now.saturating_sub(self.last_seen) < MEMBER_DEAD_AFTER
    }
}

/// Membership, app registry and chain clock as one node knows them.
#[derive(Debug, Clone)]
pub struct View<P: Peer> {
    pub clock: ChainClock,
    pub params: Params,
    members: BTreeMap<P, Member>,
    /// Peer ↔ dense key for app entries (homes, locations are stored by dense key).
    keys: BTreeMap<P, u64>,
    peers: Vec<P>,
    apps: BTreeMap<Arc<str>, AppEntry>,
    /// Live members as scheduler input, rebuilt by [`View::refresh`].
    snapshot: Vec<NodeInfo>,
    snapshot_peers: Vec<P>,
    snapshot_index: BTreeMap<P, usize>,
    snapshot_by_id: BTreeMap<String, usize>,
    live_changed: bool,
    orphans: Vec<Arc<str>>,
    /// Health of each location, by (app hash, peer key), from running reports.
    health: BTreeMap<(u64, u64), Health>,
    /// The spec version each location runs, by (app hash, peer key).
    loc_versions: BTreeMap<(u64, u64), u64>,
    /// Running reports of apps not held yet, the locations of each when it arrives.
    early: EarlyReports,
}

impl<P: Peer> View<P> {
    pub fn new(clock: ChainClock, params: Params) -> Self {
        Self {
            clock,
            params,
            members: BTreeMap::new(),
            keys: BTreeMap::new(),
            peers: Vec::new(),
            apps: BTreeMap::new(),
            snapshot: Vec::new(),
            snapshot_peers: Vec::new(),
            snapshot_index: BTreeMap::new(),
            snapshot_by_id: BTreeMap::new(),
            live_changed: true,
            orphans: Vec::new(),
            health: BTreeMap::new(),
            loc_versions: BTreeMap::new(),
            early: EarlyReports::default(),
        }
    }

    pub fn height(&self, now: Millis) -> u64 {
        self.clock.height(now)
    }

    fn key(&mut self, p: P) -> u64 {
        if let Some(&k) = self.keys.get(&p) {
            return k;
        }
        let k = self.peers.len() as u64;
        self.peers.push(p);
        self.keys.insert(p, k);
        k
    }

    fn peer(&self, k: u64) -> Option<P> {
        self.peers.get(k as usize).copied()
    }

    /// Adds or replaces a node seen in an announcement (its `info.id` must be `p`'s text).
    pub fn upsert_member(&mut self, p: P, info: NodeInfo, now: Millis) {
        let hash = name_hash(&info.id);
        self.key(p);
        let was_live = self.is_live(p, now);
        self.members.insert(
            p,
            Member {
                info,
                hash,
                last_seen: now,
                restart_until: None,
                unreachable: false,
            },
        );
        if !was_live {
            self.live_changed = true;
        }
    }

    /// Takes a member for dead now: the network lost every connection to it and it did not
    /// come back (see [`super::UNREACHABLE_AFTER`]). Its next announcement or beat revives
    /// it. A member inside its announced planned-restart window is left alone.
    pub fn member_unreachable(&mut self, p: P, now: Millis) {
        if let Some(m) = self.members.get_mut(&p) {
            if m.restart_until.is_some_and(|t| t > now) || !m.live(now) {
                return;
            }
            m.unreachable = true;
            self.live_changed = true;
        }
    }

    pub fn member(&self, p: P) -> Option<&Member> {
        self.members.get(&p)
    }

    pub fn is_live(&self, p: P, now: Millis) -> bool {
        self.members.get(&p).is_some_and(|m| m.live(now))
    }

    pub fn app(&self, name: &str) -> Option<&AppEntry> {
        self.apps.get(name)
    }

    pub fn apps(&self) -> impl Iterator<Item = &AppEntry> {
        self.apps.values()
    }

    /// Home and backups of an app, best first.
    pub fn homes(&self, app: &str) -> Vec<P> {
        self.apps
            .get(app)
            .map(|a| a.homes.iter().filter_map(|&k| self.peer(k)).collect())
            .unwrap_or_default()
    }

    /// Nodes that reported running `app`.
    pub fn locations(&self, app: &str) -> Vec<(P, Millis)> {
        self.apps
            .get(app)
            .map(|a| {
                a.locations
                    .iter()
                    .filter_map(|(&k, &t)| self.peer(k).map(|p| (p, t)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The health `p` last reported for its instance of `app` (`Starting` when unknown).
    pub fn health(&self, app: &str, p: P) -> Health {
        match (self.apps.get(app), self.keys.get(&p)) {
            (Some(e), Some(&k)) => self
                .health
                .get(&(e.hash, k))
                .copied()
                .unwrap_or(Health::Starting),
            _ => Health::Starting,
        }
    }

    /// The spec version `p` last reported for its instance of `app` (0 when unknown).
    pub fn version_at(&self, app: &str, p: P) -> u64 {
        match (self.apps.get(app), self.keys.get(&p)) {
            (Some(e), Some(&k)) => self.loc_versions.get(&(e.hash, k)).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// See [`AppEntry::target_version`].
    pub fn target_version(&self, app: &str) -> Option<u64> {
        self.apps.get(app).map(AppEntry::target_version)
    }

    /// See [`AppEntry::record_of`].
    pub fn record_of(&self, app: &str, version: u64) -> Option<&Arc<AppRecord>> {
        self.apps.get(app).and_then(|e| e.record_of(version))
    }

    /// Gives back a revert this node stored before a restart (its running reports, which
    /// vouch for the reverting host, are gone with the restart). Returns false when it no
    /// longer applies: the app is gone or has a newer version.
    pub fn restore_revert(&mut self, app: &str, r: Reverted) -> bool {
        self.apps.get_mut(app).is_some_and(|e| e.take_revert(r))
    }

    /// The version set before `version`, if any.
    pub fn previous_version(&self, app: &str, version: u64) -> Option<u64> {
        let e = self.apps.get(app)?;
        e.versions
            .iter()
            .map(|r| r.version)
            .filter(|&v| v < version)
            .max()
    }

    /// Apps with no live location that are old enough to have had one: their home
    /// re-creates the group. Rebuilt by [`View::refresh`].
    pub fn orphans(&self) -> &[Arc<str>] {
        &self.orphans
    }

    /// Whether new placements are allowed for `app` at `now`.
    pub fn placeable(&self, app: &str, now: Millis) -> bool {
        self.apps
            .get(app)
            .is_some_and(|a| !a.cancelled && self.height(now) < expiry_height(a.height, a.expire))
    }

    /// The height at which the app's instances are removed; `None` for unknown apps.
    pub fn removal_height(&self, app: &str) -> Option<u64> {
        self.apps
            .get(app)
            .map(|a| removal_height(a.height, a.expire))
    }

    /// Applies a ledger message. Returns an error for a rejected owner action.
    pub fn apply(&mut self, msg: &Msg<P>, now: Millis) -> Result<(), RegistrationError> {
        match msg {
            Msg::Register(rec) => {
                if let Some(e) = self.apps.get(&rec.name) {
                    return Err(if e.record.owner == rec.owner {
                        RegistrationError::AlreadyRegistered(rec.name.to_string())
                    } else {
                        RegistrationError::NameTaken(rec.name.to_string())
                    });
                }
                let hash = name_hash(&rec.name);
                let homes = self.rank_homes(hash, now);
                let locations = self.take_early(&rec.name, hash);
                self.apps.insert(
                    rec.name.clone(),
                    AppEntry {
                        record: rec.clone(),
                        height: rec.demand.height,
                        expire: rec.demand.expire,
                        cancelled: false,
                        hash,
                        seen_at: now,
                        homes,
                        locations,
                        versions: vec![rec.clone()],
                        reverted: None,
                    },
                );
            }
            Msg::Update(rec) => {
                if let Some(e) = self.apps.get_mut(&rec.name) {
                    if e.record.owner == rec.owner && rec.version > e.record.version && !e.cancelled
                    {
                        e.versions.push(rec.clone());
                        e.record = rec.clone();
                        e.height = rec.demand.height;
                        e.expire = rec.demand.expire;
                    }
                }
            }
            Msg::Reverted {
                app,
                version,
                good,
                by,
                reason,
            } => {
                // Only a host of the app speaks for its rollout, and only for its latest
                // version (an older revert says nothing about a newer update).
                let Some(&kb) = self.keys.get(by) else {
                    return Ok(());
                };
                if let Some(e) = self.apps.get_mut(app) {
                    if e.locations.contains_key(&kb) {
                        e.take_revert(Reverted {
                            version: *version,
                            good: *good,
                            reason: reason.clone(),
                            by: by.to_string(),
                            at: now,
                        });
                    }
                }
            }
            Msg::Renew {
                app,
                height,
                expire,
            } => {
                if let Some(e) = self.apps.get_mut(app) {
                    // Renewals only move the subscription forward.
                    if *height >= e.height {
                        e.height = *height;
                        e.expire = *expire;
                    }
                }
            }
            Msg::Cancel { app } => {
                if let Some(e) = self.apps.get_mut(app) {
                    e.cancelled = true;
                }
            }
            Msg::Announce {
                node,
                used_milli_cpu,
                used_ram_mb,
                used_hdd_gb,
                restart_until,
            } => {
                let was_live = self.is_live(*node, now);
                if let Some(m) = self.members.get_mut(node) {
                    m.info.used = Resources::new(
                        *used_milli_cpu as f64 / 1_000.0,
                        *used_ram_mb,
                        *used_hdd_gb,
                    );
                    if let Some(&i) = self.snapshot_index.get(node) {
                        if let Some(s) = self.snapshot.get_mut(i) {
                            s.used = m.info.used;
                        }
                    }
                    m.last_seen = now;
                    m.unreachable = false;
                    m.restart_until = *restart_until;
                    if !was_live {
                        self.live_changed = true;
                    }
                }
            }
            Msg::Running {
                node,
                app,
                running,
                health,
                version,
            } => {
                let k = self.key(*node);
                match self.apps.get_mut(app) {
                    Some(e) => {
                        if *running {
                            e.locations.insert(k, now);
                            self.health.insert((e.hash, k), *health);
                            self.loc_versions.insert((e.hash, k), *version);
                        } else {
                            e.locations.remove(&k);
                            self.health.remove(&(e.hash, k));
                            self.loc_versions.remove(&(e.hash, k));
                        }
                    }
                    // Kept, with its health, until the app arrives (bounded there).
                    None => self.early.note(app, k, *running, *health, now),
                }
            }
            Msg::Gone { app, node, by } => {
                // Only a host of the app speaks for its group. A group gives a member up
                // 20 s after its last beat, so the member's last report before it went
                // silent is at least 15 s old; one reported within two beat periods is
                // newer than that silence (a host that came back) and stays.
                let (Some(&k), Some(&kb)) = (self.keys.get(node), self.keys.get(by)) else {
                    return Ok(());
                };
                if let Some(e) = self.apps.get_mut(app) {
                    let fresh = e
                        .locations
                        .get(&k)
                        .is_some_and(|&t| now.saturating_sub(t) < 2 * super::BEAT_EVERY);
                    if e.locations.contains_key(&kb) && !fresh {
                        e.locations.remove(&k);
                        self.health.remove(&(e.hash, k));
                        self.loc_versions.remove(&(e.hash, k));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Brings the app registry in line with one change of the ledger
    /// ([`crate::ledger`], the source of truth for owner actions) and returns what the
    /// protocol node must then handle: a `Cancel` for an app that was cancelled, lost its
    /// name to an earlier registration or left the ledger (its hosts remove it), a
    /// `Register` for an app new here (its home starts a round).
    pub fn apply_ledger_change(&mut self, ch: &crate::ledger::Change, now: Millis) -> Vec<Msg<P>> {
        let mut out = Vec::new();
        // Where the name runs, kept when an earlier registration takes it over: the
        // winner's hosts reported their instances while this node held the loser and do
        // not report again (nothing changed for them), so the winner must not start here
        // with no locations (an orphan, which its home would place a second time). The
        // loser's hosts are told to remove theirs by the `Cancel` below and drop out when
        // they report it stopped.
        let mut located = BTreeMap::new();
        if let Some(b) = &ch.before {
            let gone = ch
                .after
                .as_ref()
                .is_none_or(|a| a.registration != b.registration);
            if gone {
                if let Some(old) = self.apps.remove(&b.record.name) {
                    located = old.locations;
                    out.push(Msg::Cancel {
                        app: b.record.name.clone(),
                    });
                }
            }
        }
        let Some(a) = &ch.after else {
            return out;
        };
        let name = a.record.name.clone();
        match self.apps.get_mut(&name) {
            Some(e) => {
                e.height = a.height;
                e.expire = a.expire;
                if a.record.version != e.record.version {
                    e.record = a.record.clone();
                    e.versions = a.versions.clone();
                    if !a.cancelled() {
                        out.push(Msg::Update(a.record.clone()));
                    }
                }
                if a.cancelled() && !e.cancelled {
                    e.cancelled = true;
                    out.push(Msg::Cancel { app: name });
                }
            }
            None => {
                let hash = name_hash(&name);
                let homes = self.rank_homes(hash, now);
                located.extend(self.take_early(&name, hash));
                self.apps.insert(
                    name.clone(),
                    AppEntry {
                        record: a.record.clone(),
                        height: a.height,
                        expire: a.expire,
                        cancelled: a.cancelled(),
                        hash,
                        seen_at: now,
                        homes,
                        locations: located,
                        versions: a.versions.clone(),
                        reverted: None,
                    },
                );
                if !a.cancelled() {
                    out.push(Msg::Register(a.record.clone()));
                }
            }
        }
        out
    }

    /// The early running reports of `name` (app hash `hash`) as its locations, their
    /// health recorded as for any location.
    fn take_early(&mut self, name: &str, hash: u64) -> BTreeMap<u64, Millis> {
        let mut located = BTreeMap::new();
        for (k, (at, health)) in self.early.take(name) {
            located.insert(k, at);
            self.health.insert((hash, k), health);
        }
        located
    }

    fn rank_homes(&self, app_hash: u64, now: Millis) -> Vec<u64> {
        let mut best: Vec<(u64, P)> = Vec::with_capacity(BACKUPS + 2);
        for (&p, m) in &self.members {
            if !m.live(now) {
                continue;
            }
            let s = rendezvous(app_hash, m.hash);
            if best.len() <= BACKUPS || s > best[best.len() - 1].0 {
                best.push((s, p));
                best.sort_by(|a, b| b.cmp(a));
                best.truncate(BACKUPS + 1);
            }
        }
        best.iter()
            .filter_map(|(_, p)| self.keys.get(p).copied())
            .collect()
    }

    /// Rebuilds the scheduler snapshot of live members, re-ranks homes when liveness
    /// changed, and recomputes the orphan list. Call after applying a batch of messages.
    pub fn refresh(&mut self, now: Millis) {
        let dead_now = self.snapshot_peers.iter().any(|&p| !self.is_live(p, now));
        if dead_now {
            self.live_changed = true;
        }
        if self.live_changed {
            self.snapshot.clear();
            self.snapshot_peers.clear();
            self.snapshot_index.clear();
            self.snapshot_by_id.clear();
            for (&p, m) in &self.members {
                if m.live(now) {
                    self.snapshot_index.insert(p, self.snapshot.len());
                    self.snapshot_by_id
                        .insert(m.info.id.clone(), self.snapshot.len());
                    self.snapshot.push(m.info.clone());
                    self.snapshot_peers.push(p);
                }
            }
        }
        if self.live_changed {
            self.live_changed = false;
            let live: BTreeSet<u64> = self
                .snapshot_peers
                .iter()
                .filter_map(|p| self.keys.get(p).copied())
                .collect();
            self.early.retain_nodes(|k| live.contains(&k));
            let hashes: Vec<(Arc<str>, u64)> =
                self.apps.iter().map(|(n, e)| (n.clone(), e.hash)).collect();
            for (name, h) in hashes {
                let homes = self.rank_homes(h, now);
                if let Some(e) = self.apps.get_mut(&name) {
                    e.homes = homes;
                }
            }
        }
        let height = self.height(now);
        // An app is an orphan when nothing live runs it. A view that learned the app less
        // than `2 × START_GRACE` ago waits for running reports first (a joining node knows
        // the ledger before it knows where apps run, and placing then made extras) —
        // unless the view knows where it ran and every one of those hosts is a member it
        // saw die: that is a whole group lost, not missing news. Waiting then too, a node
        // that had joined just before the group died (the kill rounds' replacements on
        // `scripts/scale.sh`, homes of many apps) re-placed its orphans a minute after the
        // kill instead of 30 s.
        let dead_member = |k: u64| {
            self.peer(k)
                .is_some_and(|p| self.members.contains_key(&p) && !self.is_live(p, now))
        };
        self.orphans = self
            .apps
            .iter()
            .filter(|(_, e)| {
                let lost = !e.locations.is_empty() && e.locations.keys().all(|&k| dead_member(k));
                !e.cancelled
                    && height < expiry_height(e.height, e.expire)
                    && (lost || now.saturating_sub(e.seen_at) > 2 * START_GRACE)
                    && !e
                        .locations
                        .keys()
                        .any(|&k| self.peer(k).is_some_and(|p| self.is_live(p, now)))
            })
            .map(|(n, _)| n.clone())
            .collect();
    }

    /// Up to `want` candidates for new instances of `app`. The first `spread` come from
    /// the scheduler in its order (spread first, then quality); the rest are drawn from
    /// the next 2 × `want` in the scheduler's order by a hash of (app, node), so that
    /// concurrent rounds for different apps do not all call the same few best nodes (a
    /// full node can only decline). `members` (nodes running it) count as covering their
    /// places and are never candidates; `skip` (nodes that declined or did not answer
    /// recently, or may still run it) are never returned.
    pub fn candidates(
        &self,
        app: &str,
        members: &BTreeSet<P>,
        skip: &BTreeSet<P>,
        spread: usize,
        want: usize,
        now: Millis,
    ) -> Vec<P> {
        let Some(entry) = self.apps.get(app) else {
            return Vec::new();
        };
        let running: Vec<Running> = members
            .iter()
            .filter_map(|p| self.snapshot_index.get(p))
            .map(|&i| Running::new(app, self.snapshot[i].id.clone()))
            .collect();
        let skipped = skip
            .iter()
            .filter(|p| !members.contains(p) && self.snapshot_index.contains_key(p))
            .count();
        let pool = spread + 2 * want;
        let mut demand = entry.record.demand.clone();
        demand.instances = (running.len() + pool + skipped) as u32;
        demand.height = entry.height;
        demand.expire = entry.expire;
        let params = Params {
            height: Some(self.height(now)),
            ..self.params.clone()
        };
        let rank = |nodes: &[NodeInfo]| -> Vec<P> {
            let Ok(out) = schedule(nodes, std::slice::from_ref(&demand), &running, &params) else {
                return Vec::new();
            };
            out.placements
                .iter()
                .flat_map(|p| p.nodes.iter())
                .filter_map(|id| self.snapshot_by_id.get(id))
                .filter_map(|&i| self.snapshot_peers.get(i).copied())
                .filter(|p| !skip.contains(p))
                .take(pool)
                .collect()
        };
        // Large networks: rank a per-app sample (the members plus the CANDIDATE_SAMPLE
        // nodes with the highest rendezvous score for the app) rather than every node;
        // the full view only when the sample cannot fill the shortlist (tight
        // geolocation, scarce tier). Building the scheduler's index over 10,000 nodes
        // for every round was the simulator's largest cost.
        let mut ranked = Vec::new();
        if self.snapshot.len() > 2 * CANDIDATE_SAMPLE {
            let mut scored: Vec<(u64, usize)> = self
                .snapshot_peers
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let h = self.members.get(p).map_or(0, |m| m.hash);
                    (rendezvous(entry.hash, h), i)
                })
                .collect();
            scored.select_nth_unstable_by(CANDIDATE_SAMPLE, |a, b| b.cmp(a));
            let mut picked: BTreeSet<usize> =
                scored[..CANDIDATE_SAMPLE].iter().map(|&(_, i)| i).collect();
            picked.extend(members.iter().filter_map(|p| self.snapshot_index.get(p)));
            let sample: Vec<NodeInfo> = picked.iter().map(|&i| self.snapshot[i].clone()).collect();
            ranked = rank(&sample);
        }
        if ranked.len() < want {
            ranked = rank(&self.snapshot);
        }
        let head = spread.min(ranked.len());
        let mut picked: Vec<P> = ranked[..head].to_vec();
        let mut rest: Vec<(u64, P)> = ranked[head..]
            .iter()
            .map(|&p| {
                let h = self.members.get(&p).map_or(0, |m| m.hash);
                (rendezvous(entry.hash, h), p)
            })
            .collect();
        rest.sort_by(|a, b| b.cmp(a));
        picked.extend(
            rest.into_iter()
                .map(|(_, p)| p)
                .take(want.saturating_sub(head)),
        );
        picked
    }

    /// A member's scheduler record, if known.
    pub fn info(&self, p: P) -> Option<&NodeInfo> {
        self.members.get(&p).map(|m| &m.info)
    }
}
