//! The daemon's edge of the app ledger ([`scheduler::ledger`], the one source of truth
//! for owner actions): checks each action once as it enters — owner signature, spec
//! validation, heights — turns it into a ledger action carrying its signed wire form,
//! and keeps the store in step (`app_specs` tree, one record per action id), so an API
//! success survives a crash and a restart re-learns the ledger.
//!
//! Validation runs at the registration's own height, not at the receiver's: every node
//! then reaches the same verdict on the same registration, which the merge needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use proto::message::{
    AppCancel, AppRegistration, AppRenewal, Message, OwnerSignatureError, OwnerSigned,
    owner_signing_bytes,
};
use proto::spec::AppSpec;
use proto::validate::{ValidationContext, Violation, check_update, validate_json};
use scheduler::ledger::{
    Action, ActionId, Change, Conflict, Ledger, LedgerApp, LedgerError, OwnerOp,
};
use scheduler::protocol::{AppRecord, ChainClock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{Batch, Store, StoreError, Tree};

/// Heights an owner action may be ahead of this node's chain clock (clock skew between
/// the owner's node and this one; two blocks is a minute at Flux's block time). The same
/// bound applies behind, for registrations sent to this node's API: a registration
/// cannot be backdated to win a name that is already held.
const HEIGHT_SLACK: u64 = 2;

/// Most blocks a renewal may extend an app by: FluxOS's maximum `expire` after the PON fork.
const MAX_RENEW_BLOCKS: u32 = proto::validate::limits::EXPIRE_MAX as u32;

/// Staged store writes flushed as one batch at this many.
pub const STAGED_MAX: usize = 512;

/// The format the store held before the ledger: one record per app name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LegacyStoredApp {
    registration: OwnerSigned<AppRegistration>,
    renewal: Option<OwnerSigned<AppRenewal>>,
    cancel: Option<OwnerSigned<AppCancel>>,
}

/// Why an owner action was refused; the API maps these to 400/403/404/409.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Signature(#[from] OwnerSignatureError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("app {0:?} is not registered")]
    Unknown(String),
    #[error("app {app:?} belongs to {owner}; only its owner may {action} it")]
    NotOwner {
        app: String,
        owner: String,
        action: &'static str,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("storing the app registry: {0}")]
    Store(#[from] StoreError),
}

impl RegistryError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RegistryError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn from_violations(v: &[Violation]) -> Self {
        let first = &v[0];
        let more = if v.len() > 1 {
            format!(" (and {} more)", v.len() - 1)
        } else {
            String::new()
        };
        let field = if first.path.is_empty() {
            "spec".to_string()
        } else {
            format!("spec.{}", first.path)
        };
        RegistryError::invalid(field, format!("{} [{}]{more}", first.message, first.rule))
    }
}

/// An action the ledger took in.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The app the action names.
    pub app: String,
    /// Whether it was new here (a duplicate is accepted but not relayed).
    pub new: bool,
    /// Apps whose state changed.
    pub changes: Vec<Change>,
    /// The action as signed, to relay.
    pub message: Message,
}

/// Where an action comes from: the API (first hop: the owner is told why it cannot
/// win) or gossip (held whatever its fate, so every node ends with the same set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Api,
    Peer,
}

#[derive(Debug)]
pub struct Registry {
    store: Store,
    ledger: Ledger<Message>,
    /// The parsed spec of every registration and update held, parsed once on entry.
    specs: BTreeMap<ActionId, Arc<AppSpec>>,
    /// (name key, owner, seq) → the registration or update that set that spec version.
    versions: BTreeMap<(String, Arc<str>, u64), ActionId>,
    /// Owner actions checked (signature and validation) since start: each action
    /// entering once is checked once.
    checks: u64,
    /// Store writes not yet applied.
    staged: Batch,
    /// Loading from the store: nothing to write back.
    loading: bool,
}

/// The ledger id of an owner action: SHA-256 of the bytes its owner signed.
fn action_id<A: proto::message::OwnerAction>(s: &OwnerSigned<A>) -> ActionId {
    Sha256::digest(owner_signing_bytes(&s.owner, s.signed_at_ms, &s.action)).into()
}

fn hex(id: &ActionId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl Registry {
    /// Loads the stored actions into a fresh ledger. A stored record that no longer
    /// parses or validates is reported and skipped, never deleted: the operator can
    /// inspect it. Records of the older per-app format are rewritten per action.
    pub fn load(store: Store, clock: ChainClock, height: u64) -> Result<Registry, RegistryError> {
        let mut r = Registry {
            store: store.clone(),
            ledger: Ledger::new(clock),
            specs: BTreeMap::new(),
            versions: BTreeMap::new(),
            checks: 0,
            staged: Batch::new(Tree::AppSpecs),
            loading: true,
        };
        for (key, value) in store.list::<serde_json::Value>(Tree::AppSpecs)? {
            let messages = match serde_json::from_value::<Message>(value.clone()) {
                Ok(m) => vec![m],
                Err(_) => match serde_json::from_value::<LegacyStoredApp>(value) {
                    Ok(old) => {
                        // Rewritten per action below.
                        r.loading = false;
                        store.delete(Tree::AppSpecs, &key)?;
                        let mut v = vec![Message::AppRegistration(old.registration)];
                        v.extend(old.renewal.map(Message::AppRenewal));
                        v.extend(old.cancel.map(Message::AppCancel));
                        v
                    }
                    Err(e) => {
                        tracing::warn!(key, error = %e, "stored app record does not parse; skipped");
                        continue;
                    }
                },
            };
            for m in messages {
                if let Err(e) = r.receive(m, height, Origin::Peer) {
                    tracing::warn!(key, error = %e, "stored owner action refused; skipped");
                }
            }
            r.loading = true;
        }
        r.loading = false;
        r.flush()?;
        Ok(r)
    }

    pub fn ledger(&self) -> &Ledger<Message> {
        &self.ledger
    }

    /// Owner actions checked since start.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// The app holding `name` (any case).
    pub fn app(&self, name: &str) -> Option<&LedgerApp> {
        self.ledger.app(name)
    }

    /// The parsed spec of the app holding `name`, its current version.
    pub fn spec(&self, name: &str) -> Option<&Arc<AppSpec>> {
        self.spec_at(name, self.app(name)?.record.version)
    }

    /// The spec JSON of the app holding `name`, byte for byte as its owner signed it.
    pub fn spec_json(&self, name: &str) -> Option<&str> {
        self.spec_json_at(name, self.app(name)?.record.version)
    }

    /// The action that set spec `version` of the app holding `name`.
    fn version_action(&self, name: &str, version: u64) -> Option<ActionId> {
        let app = self.app(name)?;
        if version == app.reg_seq {
            return Some(app.registration);
        }
        let owner: Arc<str> = Arc::from(app.owner());
        self.versions
            .get(&(scheduler::ledger::name_key(name), owner, version))
            .copied()
    }

    /// The parsed spec `version` of the app holding `name` (a rollout moves between them).
    pub fn spec_at(&self, name: &str, version: u64) -> Option<&Arc<AppSpec>> {
        self.specs.get(&self.version_action(name, version)?)
    }

    /// The spec JSON of version `version` of the app holding `name`.
    pub fn spec_json_at(&self, name: &str, version: u64) -> Option<&str> {
        match &self
            .ledger
            .action(&self.version_action(name, version)?)?
            .payload
        {
            Message::AppRegistration(s) => Some(&s.action.spec_json),
            Message::AppUpdate(s) => Some(&s.action.spec_json),
            _ => None,
        }
    }

    /// Checks an owner action once, adds it to the ledger and stores it.
    pub fn receive(
        &mut self,
        message: Message,
        height: u64,
        origin: Origin,
    ) -> Result<Accepted, RegistryError> {
        let (id, owner, seq, app) = match &message {
            Message::AppRegistration(s) => (action_id(s), s.owner, s.signed_at_ms, None),
            Message::AppRenewal(s) => (
                action_id(s),
                s.owner,
                s.signed_at_ms,
                Some(s.action.app.clone()),
            ),
            Message::AppCancel(s) => (
                action_id(s),
                s.owner,
                s.signed_at_ms,
                Some(s.action.app.clone()),
            ),
            Message::AppUpdate(s) => (
                action_id(s),
                s.owner,
                s.signed_at_ms,
                serde_json::from_str::<serde_json::Value>(&s.action.spec_json)
                    .ok()
                    .and_then(|v| v.get("name")?.as_str().map(str::to_string)),
            ),
            _ => return Err(not_owner_action()),
        };
        if let Some(a) = self.ledger.action(&id) {
            // Held already: nothing to check again.
            return Ok(Accepted {
                app: a.op.app().to_string(),
                new: false,
                changes: Vec::new(),
                message,
            });
        }
        self.checks += 1;
        message.verify_owner().map_err(RegistryError::Signature)?;
        let owner_id = owner.node_id();
        let (op, spec) = match &message {
            Message::AppRegistration(s) => {
                let carried = CarriedSpec {
                    spec_json: &s.action.spec_json,
                    height: s.action.registered_height,
                    field: "action.registered_height",
                    what: "a new registration",
                };
                let (rec, spec) = check_spec(carried, &owner_id, seq, height, origin)?;
                if origin == Origin::Api {
                    self.refuse_losing(&rec, &owner_id)?;
                }
                (OwnerOp::Register(Arc::new(rec)), Some(spec))
            }
            Message::AppRenewal(s) => {
                let r = &s.action;
                ahead("action.renewed_height", r.renewed_height, height)?;
                if r.expire_blocks == 0 || r.expire_blocks > MAX_RENEW_BLOCKS {
                    return Err(RegistryError::invalid(
                        "action.expire_blocks",
                        format!("must be between 1 and {MAX_RENEW_BLOCKS} blocks"),
                    ));
                }
                (
                    OwnerOp::Renew {
                        app: Arc::from(r.app.as_str()),
                        height: r.renewed_height,
                        expire: r.expire_blocks,
                    },
                    None,
                )
            }
            Message::AppCancel(s) => (
                OwnerOp::Cancel {
                    app: Arc::from(s.action.app.as_str()),
                },
                None,
            ),
            Message::AppUpdate(s) => {
                // The update rules against the app's current spec are checked by the first
                // node (`refuse_bad_update`); host ports, which the merge depends on, by the
                // ledger.
                let carried = CarriedSpec {
                    spec_json: &s.action.spec_json,
                    height: s.action.updated_height,
                    field: "action.updated_height",
                    what: "an update",
                };
                let (rec, spec) = check_spec(carried, &owner_id, seq, height, origin)?;
                if origin == Origin::Api {
                    self.refuse_bad_update(&spec, seq, &owner_id)?;
                }
                (OwnerOp::Update(Arc::new(rec)), Some(spec))
            }
            _ => return Err(not_owner_action()),
        };
        if let (Origin::Api, Some(app)) = (origin, &app) {
            self.owned_by(app, &owner_id, &op)?;
        }
        let name = op.app().to_string();
        let inserted = self.ledger.insert(
            Action {
                id,
                owner: Arc::from(owner_id.as_str()),
                seq,
                op,
                payload: message.clone(),
            },
            height,
        )?;
        if let Some(spec) = spec {
            self.specs.insert(id, Arc::new(spec));
            self.versions.insert(
                (
                    scheduler::ledger::name_key(&name),
                    Arc::from(owner_id.as_str()),
                    seq,
                ),
                id,
            );
        }
        if origin == Origin::Api {
            self.flush()?;
            self.store.put(Tree::AppSpecs, &hex(&id), &message)?;
        } else if !self.loading {
            self.staged.put(&hex(&id), &message)?;
            if self.staged.len() >= STAGED_MAX {
                self.flush()?;
            }
        }
        if origin == Origin::Api && inserted.outcome == scheduler::ledger::Outcome::Superseded {
            return Err(RegistryError::Conflict(format!(
                "app {name:?}: a later action of its owner is already in force (or it was cancelled); this one changes nothing"
            )));
        }
        Ok(Accepted {
            app: name,
            new: true,
            changes: inserted.changes,
            message,
        })
    }

    /// An API registration that would lose to an app held here is refused outright.
    fn refuse_losing(&self, rec: &AppRecord, owner: &str) -> Result<(), RegistryError> {
        match self.ledger.conflict(rec) {
            None => Ok(()),
            Some(Conflict::Name { holder, owner: o }) if o == owner => {
                Err(RegistryError::Conflict(format!(
                    "app {holder:?} is already registered; renew it to extend it"
                )))
            }
            Some(Conflict::Name { holder, .. }) => Err(RegistryError::Conflict(format!(
                "app name {:?} is taken by another owner (as {holder:?}; names are case-insensitive); choose another name",
                rec.name
            ))),
            Some(Conflict::Port { port, holder }) => Err(RegistryError::Invalid {
                field: "spec.compose.ports".into(),
                message: format!(
                    "host port {port} is used by app {holder:?}; host ports are network-wide, choose another"
                ),
            }),
        }
    }

    /// An API update must follow FluxOS's update rules against the app's current spec and
    /// be newer than it (a replayed or out-of-order update is refused, not merged).
    fn refuse_bad_update(
        &self,
        spec: &AppSpec,
        seq: u64,
        owner: &str,
    ) -> Result<(), RegistryError> {
        let held = self
            .ledger
            .app(&spec.name)
            .ok_or_else(|| RegistryError::Unknown(spec.name.clone()))?;
        if held.owner() != owner {
            return Err(RegistryError::NotOwner {
                app: spec.name.clone(),
                owner: held.owner().to_string(),
                action: "update",
            });
        }
        if held.cancelled() {
            return Err(RegistryError::Conflict(format!(
                "app {:?} was cancelled; register it again",
                spec.name
            )));
        }
        if seq <= held.last_seq {
            return Err(RegistryError::Conflict(format!(
                "app {:?}: this update was signed at {seq}, not after the app's last action ({}); sign it again now",
                spec.name, held.last_seq
            )));
        }
        let current = self
            .spec(&spec.name)
            .ok_or_else(|| RegistryError::Unknown(spec.name.clone()))?;
        let violations = check_update(current, spec);
        if !violations.is_empty() {
            return Err(RegistryError::from_violations(&violations));
        }
        Ok(())
    }

    /// An API renewal or cancel must name an app this node knows, of the signing owner.
    fn owned_by(&self, app: &str, owner: &str, op: &OwnerOp) -> Result<(), RegistryError> {
        let held = self
            .ledger
            .app(app)
            .ok_or_else(|| RegistryError::Unknown(app.to_string()))?;
        if held.owner() != owner {
            return Err(RegistryError::NotOwner {
                app: app.to_string(),
                owner: held.owner().to_string(),
                action: op.kind(),
            });
        }
        if held.cancelled() && matches!(op, OwnerOp::Renew { .. }) {
            return Err(RegistryError::Conflict(format!(
                "app {app:?} was cancelled; register it again"
            )));
        }
        Ok(())
    }

    /// Drops apps whose end has passed, with their stored actions; returns the changes.
    pub fn prune(&mut self, height: u64) -> Result<Vec<Change>, RegistryError> {
        let (changes, dropped) = self.ledger.prune_dropped(height);
        for id in &dropped {
            self.specs.remove(id);
            self.staged.delete(&hex(id));
        }
        if !dropped.is_empty() {
            self.versions.retain(|_, id| !dropped.contains(id));
        }
        Ok(changes)
    }

    /// Writes the staged store changes as one batch.
    pub fn flush(&mut self) -> Result<(), RegistryError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.staged, Batch::new(Tree::AppSpecs));
        self.store.apply(batch)?;
        Ok(())
    }
}

fn not_owner_action() -> RegistryError {
    RegistryError::invalid(
        "message",
        "only app registrations, updates, renewals and cancels are owner actions",
    )
}

fn ahead(field: &str, h: u64, height: u64) -> Result<(), RegistryError> {
    if h > height + HEIGHT_SLACK {
        return Err(RegistryError::invalid(
            field,
            format!("{h} is ahead of this node's chain height {height}; check the clock"),
        ));
    }
    Ok(())
}

/// A spec carried by a registration or an update: its height (`field` names it) neither
/// ahead of this node's chain nor, from the API, behind it; FluxOS validation at that
/// height (so every node reaches the same verdict); the parse; the record. Once per action.
struct CarriedSpec<'a> {
    spec_json: &'a str,
    height: u64,
    field: &'static str,
    /// What the height starts, for the "behind" message.
    what: &'static str,
}

fn check_spec(
    c: CarriedSpec<'_>,
    owner: &str,
    seq: u64,
    height: u64,
    origin: Origin,
) -> Result<(AppRecord, AppSpec), RegistryError> {
    ahead(c.field, c.height, height)?;
    if origin == Origin::Api && c.height + HEIGHT_SLACK < height {
        return Err(RegistryError::invalid(
            c.field,
            format!(
                "{} is behind this node's chain height {height}; {} counts from now",
                c.height, c.what
            ),
        ));
    }
    let ctx = ValidationContext {
        height: u32::try_from(c.height).unwrap_or(u32::MAX),
        ..ValidationContext::default()
    };
    let violations = validate_json(c.spec_json.as_bytes(), &ctx);
    if !violations.is_empty() {
        return Err(RegistryError::from_violations(&violations));
    }
    let spec = AppSpec::from_json(c.spec_json.as_bytes())
        .map_err(|e| RegistryError::invalid("spec", e.to_string()))?;
    // The spec's `owner` is a Flux ZelID this node cannot verify; the key that signed
    // the registration is the owner of record, and only it may update, renew or cancel.
    let rec = AppRecord::from_spec(&spec, c.height, c.spec_json.len(), owner, seq);
    Ok((rec, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::keys::Keypair;
    use proto::message::AppUpdate;

    /// A height after every fork the rules know (v8 specs are valid from 1,932,380).
    const H: u64 = 3_000_000;

    fn clock() -> ChainClock {
        ChainClock::new(0, 0)
    }

    fn spec(name: &str, port: u16) -> String {
        serde_json::json!({
            "version": 8, "name": name, "description": "d",
            "owner": "0x0c894752ba986f3f6f081eeb05c1c4a482fe8717",
            "compose": [{
                "name": "web", "description": "d", "repotag": "busybox:latest",
                "ports": [port], "domains": [""], "environmentParameters": [],
                "commands": [], "containerPorts": [8080], "containerData": "/data",
                "cpu": 0.1, "ram": 128, "hdd": 1, "repoauth": ""
            }],
            "instances": 3, "contacts": [], "geolocation": [], "expire": 5000,
            "nodes": [], "staticip": false, "enterprise": ""
        })
        .to_string()
    }

    fn reg(key: &Keypair, name: &str, port: u16, height: u64) -> Message {
        Message::AppRegistration(OwnerSigned::sign(
            key,
            1,
            AppRegistration {
                spec_json: spec(name, port),
                registered_height: height,
            },
        ))
    }

    fn renew(k: &Keypair, seq: u64, h: u64, blocks: u32) -> Message {
        Message::AppRenewal(OwnerSigned::sign(
            k,
            seq,
            AppRenewal {
                app: "shop".into(),
                renewed_height: h,
                expire_blocks: blocks,
            },
        ))
    }

    fn registry(dir: &tempfile::TempDir) -> (Store, Registry) {
        let store = Store::open(dir.path().join("db")).unwrap();
        let r = Registry::load(store.clone(), clock(), H).unwrap();
        (store, r)
    }

    #[test]
    fn actions_are_checked_stored_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut r) = registry(&dir);
        let (owner, other) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));
        let api = Origin::Api;

        assert!(
            r.receive(reg(&owner, "shop", 31001, H), H, api)
                .unwrap()
                .new
        );
        assert!(
            !r.receive(reg(&owner, "shop", 31001, H), H, api)
                .unwrap()
                .new
        );
        assert!(matches!(
            r.receive(reg(&other, "SHOP", 31002, H), H, api),
            Err(RegistryError::Conflict(m)) if m.contains("taken")
        ));
        assert!(matches!(
            r.receive(reg(&other, "blog", 31001, H), H, api),
            Err(RegistryError::Invalid { field, .. }) if field == "spec.compose.ports"
        ));
        assert!(matches!(
            r.receive(reg(&owner, "future", 31003, H + 100), H, api),
            Err(RegistryError::Invalid { field, .. }) if field == "action.registered_height"
        ));
        assert!(matches!(
            r.receive(reg(&owner, "backdated", 31003, H - 100), H, api),
            Err(RegistryError::Invalid { field, .. }) if field == "action.registered_height"
        ));
        let Message::AppRegistration(mut bad) = reg(&owner, "badspec", 31004, H) else {
            unreachable!()
        };
        bad.action.spec_json = bad.action.spec_json.replace("\"cpu\":0.1", "\"cpu\":-1");
        let bad = OwnerSigned::sign(&owner, 1, bad.action);
        assert!(matches!(
            r.receive(Message::AppRegistration(bad), H, api),
            Err(RegistryError::Invalid { field, .. }) if field.starts_with("spec.compose")
        ));
        let Message::AppRegistration(mut forged) = reg(&owner, "forged", 31005, H) else {
            unreachable!()
        };
        forged.action.registered_height = H - 1;
        assert!(matches!(
            r.receive(Message::AppRegistration(forged), H, api),
            Err(RegistryError::Signature(_))
        ));

        assert!(matches!(
            r.receive(renew(&other, 2, H + 50, 5_000), H + 50, api),
            Err(RegistryError::NotOwner { .. })
        ));
        assert!(matches!(
            r.receive(renew(&owner, 2, H + 50, 0), H + 50, api),
            Err(RegistryError::Invalid { field, .. }) if field == "action.expire_blocks"
        ));
        assert!(
            r.receive(renew(&owner, 3, H + 50, 6_000), H + 50, api)
                .unwrap()
                .new
        );
        assert!(
            matches!(
                r.receive(renew(&owner, 2, H + 40, 7_000), H + 50, api),
                Err(RegistryError::Conflict(_))
            ),
            "an older renewal changes nothing"
        );
        assert_eq!(r.app("Shop").unwrap().expire, 6_000);

        let cancel = Message::AppCancel(OwnerSigned::sign(
            &owner,
            4,
            AppCancel { app: "shop".into() },
        ));
        assert!(r.receive(cancel, H + 50, api).unwrap().new);
        assert!(matches!(
            r.receive(renew(&owner, 5, H + 60, 5_000), H + 60, api),
            Err(RegistryError::Conflict(_))
        ));
        let unknown = Message::AppCancel(OwnerSigned::sign(
            &owner,
            3,
            AppCancel { app: "nope".into() },
        ));
        assert!(matches!(
            r.receive(unknown, H, api),
            Err(RegistryError::Unknown(_))
        ));

        // Everything held is in the store: a reload holds the same ledger.
        let digest = r.ledger().digest();
        drop(r);
        let r = Registry::load(store, clock(), H + 60).unwrap();
        assert_eq!(r.ledger().digest(), digest);
        assert!(r.app("shop").unwrap().cancelled());
        assert!(r.spec("shop").is_some());
    }

    fn upd(key: &Keypair, seq: u64, spec_json: String, height: u64) -> Message {
        Message::AppUpdate(OwnerSigned::sign(
            key,
            seq,
            AppUpdate {
                spec_json,
                updated_height: height,
            },
        ))
    }

    #[test]
    fn updates_follow_the_update_rules_and_keep_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut r) = registry(&dir);
        let (owner, other) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));
        let api = Origin::Api;
        r.receive(reg(&owner, "shop", 31001, H), H, api).unwrap();
        let v2 = spec("shop", 31001).replace("busybox:latest", "busybox:v2");
        let acc = r.receive(upd(&owner, 10, v2.clone(), H), H, api).unwrap();
        assert!(acc.new);
        assert_eq!(acc.changes.len(), 1, "the app changed");
        let app = r.app("shop").unwrap();
        assert_eq!(app.record.version, 10);
        assert_eq!(app.versions.len(), 2);
        assert_eq!(r.spec("shop").unwrap().compose[0].repotag, "busybox:v2");
        assert_eq!(
            r.spec_at("shop", 1).unwrap().compose[0].repotag,
            "busybox:latest"
        );
        assert!(r.spec_json_at("shop", 10).unwrap().contains("busybox:v2"));
        // A replay is recognised, not applied twice.
        assert!(
            !r.receive(upd(&owner, 10, v2.clone(), H), H, api)
                .unwrap()
                .new
        );
        // Out of order: signed before the update in force.
        let v3 = spec("shop", 31001).replace("busybox:latest", "busybox:v3");
        assert!(matches!(
            r.receive(upd(&owner, 5, v3.clone(), H), H, api),
            Err(RegistryError::Conflict(m)) if m.contains("not after")
        ));
        assert!(matches!(
            r.receive(upd(&other, 20, v3.clone(), H), H, api),
            Err(RegistryError::NotOwner { .. })
        ));
        let moved = spec("shop", 31002);
        assert!(matches!(
            r.receive(upd(&owner, 20, moved, H), H, api),
            Err(RegistryError::Invalid { field, message }) if field == "spec.compose[0].ports" && message.contains("update-ports")
        ));
        let renamed = spec("shop", 31001).replace("\"name\":\"web\"", "\"name\":\"www\"");
        assert!(matches!(
            r.receive(upd(&owner, 20, renamed, H), H, api),
            Err(RegistryError::Invalid { field, .. }) if field == "spec.compose"
        ));
        assert!(matches!(
            r.receive(upd(&owner, 20, spec("nope", 31009), H), H, api),
            Err(RegistryError::Unknown(_))
        ));
        // Held across a restart, with its versions.
        drop(r);
        let r = Registry::load(store, clock(), H).unwrap();
        assert_eq!(r.app("shop").unwrap().record.version, 10);
        assert_eq!(
            r.spec_at("shop", 1).unwrap().compose[0].repotag,
            "busybox:latest"
        );
        assert_eq!(r.spec("shop").unwrap().compose[0].repotag, "busybox:v2");
    }

    #[test]
    fn each_action_is_checked_once_and_gossip_converges() {
        let (a, b) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));
        let first = reg(&a, "shop", 31001, H);
        let second = reg(&b, "Shop", 31002, H + 1);
        let mut owners = Vec::new();
        for order in [[&first, &second], [&second, &first]] {
            let dir = tempfile::tempdir().unwrap();
            let (_, mut r) = registry(&dir);
            for _ in 0..3 {
                for m in order {
                    r.receive((*m).clone(), H + 1, Origin::Peer).unwrap();
                }
            }
            assert_eq!(r.checks(), 2, "two actions, each checked once");
            owners.push(r.app("shop").unwrap().owner().to_string());
            r.ledger().check().unwrap();
        }
        assert_eq!(owners[0], a.public().node_id());
        assert_eq!(owners[0], owners[1]);
    }
}
