//! The app registry as this node holds it: every owner action exactly as the owner signed
//! it, so the node can relay it to peers that join later and re-learn it after a restart.
//!
//! Checks here are the ones the protocol's `View` cannot make: owner signature, spec
//! validation at the current height, owner of renewals and cancels, heights not in the
//! future. Every accepted action is written to the store (`app_specs` tree) before it is
//! acted on or answered, so an API success survives a crash.

use std::collections::BTreeMap;
use std::sync::Arc;

use proto::message::{
    AppCancel, AppRegistration, AppRenewal, Message, OwnerSignatureError, OwnerSigned,
};
use proto::validate::{ValidationContext, Violation, validate_json};
use scheduler::protocol::{AppRecord, Msg};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, Tree};

/// Heights an owner action may be ahead of this node's chain clock (clock skew between
/// the owner's node and this one; two blocks is a minute at Flux's block time).
const HEIGHT_SLACK: u64 = 2;

/// Most blocks a renewal may extend an app by: FluxOS's maximum `expire` after the PON fork.
const MAX_RENEW_BLOCKS: u32 = proto::validate::limits::EXPIRE_MAX as u32;

/// One app's owner actions as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredApp {
    pub registration: OwnerSigned<AppRegistration>,
    pub renewal: Option<OwnerSigned<AppRenewal>>,
    pub cancel: Option<OwnerSigned<AppCancel>>,
}

impl StoredApp {
    /// The app's owner actions as wire messages, registration first.
    pub fn messages(&self) -> Vec<Message> {
        let mut v = vec![Message::AppRegistration(self.registration.clone())];
        if let Some(r) = &self.renewal {
            v.push(Message::AppRenewal(r.clone()));
        }
        if let Some(c) = &self.cancel {
            v.push(Message::AppCancel(c.clone()));
        }
        v
    }
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

/// What an accepted action changes in the protocol's view.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub msg: Msg<proto::keys::NodeId>,
    /// Whether the action was new to this node (a duplicate is accepted but not relayed).
    pub new: bool,
}

#[derive(Debug)]
pub struct Registry {
    store: Store,
    apps: BTreeMap<String, StoredApp>,
    specs: BTreeMap<String, Arc<proto::spec::AppSpec>>,
}

impl Registry {
    /// Loads the stored registry. A stored action that no longer parses is reported and
    /// skipped, never deleted: the operator can inspect it.
    pub fn load(store: Store) -> Result<Registry, RegistryError> {
        let mut apps = BTreeMap::new();
        let mut specs = BTreeMap::new();
        for (name, stored) in store.list::<StoredApp>(Tree::AppSpecs)? {
            match proto::spec::AppSpec::from_json(stored.registration.action.spec_json.as_bytes()) {
                Ok(spec) => {
                    specs.insert(name.clone(), Arc::new(spec));
                    apps.insert(name, stored);
                }
                Err(e) => {
                    tracing::warn!(app = %name, error = %e, "stored app spec no longer parses; skipped")
                }
            }
        }
        Ok(Registry { store, apps, specs })
    }

    pub fn get(&self, app: &str) -> Option<&StoredApp> {
        self.apps.get(app)
    }

    pub fn spec(&self, app: &str) -> Option<&Arc<proto::spec::AppSpec>> {
        self.specs.get(app)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &StoredApp)> {
        self.apps.iter()
    }

    /// The protocol messages that rebuild the view from the stored actions.
    pub fn replay(&self) -> Vec<Msg<proto::keys::NodeId>> {
        let mut out = Vec::new();
        for stored in self.apps.values() {
            let owner = stored.registration.owner.node_id();
            if let Ok(rec) = AppRecord::from_registration(&stored.registration.action, &owner) {
                out.push(Msg::Register(Arc::new(rec)));
            }
            if let Some(r) = &stored.renewal {
                out.push(renew_msg(&r.action));
            }
            if let Some(c) = &stored.cancel {
                out.push(Msg::Cancel {
                    app: Arc::from(c.action.app.as_str()),
                });
            }
        }
        out
    }

    /// Checks and stores a registration.
    pub fn register(
        &mut self,
        signed: OwnerSigned<AppRegistration>,
        height: u64,
    ) -> Result<Accepted, RegistryError> {
        signed.verify()?;
        let reg = &signed.action;
        if reg.registered_height > height + HEIGHT_SLACK {
            return Err(RegistryError::invalid(
                "action.registered_height",
                format!(
                    "{} is ahead of this node's chain height {height}; check the clock",
                    reg.registered_height
                ),
            ));
        }
        let ctx = ValidationContext {
            height: u32::try_from(height).unwrap_or(u32::MAX),
            ..ValidationContext::default()
        };
        let violations = validate_json(reg.spec_json.as_bytes(), &ctx);
        if !violations.is_empty() {
            return Err(RegistryError::from_violations(&violations));
        }
        let spec = proto::spec::AppSpec::from_json(reg.spec_json.as_bytes())
            .map_err(|e| RegistryError::invalid("spec", e.to_string()))?;
        // The spec's `owner` is a Flux ZelID this node cannot verify; the key that signed
        // the registration is the owner of record, and only it may renew or cancel.
        let owner = signed.owner.node_id();
        let rec = AppRecord::from_registration(reg, &owner)
            .map_err(|e| RegistryError::invalid("spec", e.to_string()))?;
        if let Some(existing) = self.apps.get(&spec.name) {
            if existing.registration == signed {
                return Ok(Accepted {
                    msg: Msg::Register(Arc::new(rec)),
                    new: false,
                });
            }
            let who = existing.registration.owner.node_id();
            return Err(RegistryError::Conflict(if who == owner {
                format!(
                    "app {:?} is already registered; renew it to extend it",
                    spec.name
                )
            } else {
                format!(
                    "app name {:?} is taken by another owner; choose another name",
                    spec.name
                )
            }));
        }
        let stored = StoredApp {
            registration: signed,
            renewal: None,
            cancel: None,
        };
        self.store.put(Tree::AppSpecs, &spec.name, &stored)?;
        self.apps.insert(spec.name.clone(), stored);
        self.specs.insert(spec.name.clone(), Arc::new(spec));
        Ok(Accepted {
            msg: Msg::Register(Arc::new(rec)),
            new: true,
        })
    }

    fn owned(
        &mut self,
        app: &str,
        owner: &proto::keys::PublicKey,
        action: &'static str,
    ) -> Result<&mut StoredApp, RegistryError> {
        let stored = self
            .apps
            .get_mut(app)
            .ok_or_else(|| RegistryError::Unknown(app.to_string()))?;
        if stored.registration.owner != *owner {
            return Err(RegistryError::NotOwner {
                app: app.to_string(),
                owner: stored.registration.owner.node_id(),
                action,
            });
        }
        Ok(stored)
    }

    /// Checks and stores a renewal. An older renewal than the one held is accepted as a
    /// duplicate and changes nothing.
    pub fn renew(
        &mut self,
        signed: OwnerSigned<AppRenewal>,
        height: u64,
    ) -> Result<Accepted, RegistryError> {
        signed.verify()?;
        let r = &signed.action;
        if r.renewed_height > height + HEIGHT_SLACK {
            return Err(RegistryError::invalid(
                "action.renewed_height",
                format!(
                    "{} is ahead of this node's chain height {height}; check the clock",
                    r.renewed_height
                ),
            ));
        }
        if r.expire_blocks == 0 || r.expire_blocks > MAX_RENEW_BLOCKS {
            return Err(RegistryError::invalid(
                "action.expire_blocks",
                format!("must be between 1 and {MAX_RENEW_BLOCKS} blocks"),
            ));
        }
        let stored = self.owned(&r.app, &signed.owner, "renew")?;
        if stored.cancel.is_some() {
            return Err(RegistryError::Conflict(format!(
                "app {:?} was cancelled; register it again under a new name",
                r.app
            )));
        }
        let newer = stored
            .renewal
            .as_ref()
            .is_none_or(|old| r.renewed_height > old.action.renewed_height);
        let msg = renew_msg(r);
        if !newer {
            return Ok(Accepted { msg, new: false });
        }
        stored.renewal = Some(signed.clone());
        let stored = stored.clone();
        self.store.put(Tree::AppSpecs, &r.app, &stored)?;
        Ok(Accepted { msg, new: true })
    }

    /// Checks and stores a cancel.
    pub fn cancel(&mut self, signed: OwnerSigned<AppCancel>) -> Result<Accepted, RegistryError> {
        signed.verify()?;
        let app = signed.action.app.clone();
        let stored = self.owned(&app, &signed.owner, "cancel")?;
        let msg = Msg::Cancel {
            app: Arc::from(app.as_str()),
        };
        if stored.cancel.is_some() {
            return Ok(Accepted { msg, new: false });
        }
        stored.cancel = Some(signed);
        let stored = stored.clone();
        self.store.put(Tree::AppSpecs, &app, &stored)?;
        Ok(Accepted { msg, new: true })
    }

    /// Forgets an app whose removal height has passed (its instances are gone everywhere).
    pub fn forget(&mut self, app: &str) -> Result<(), RegistryError> {
        self.store.delete(Tree::AppSpecs, app)?;
        self.apps.remove(app);
        self.specs.remove(app);
        Ok(())
    }
}

fn renew_msg(r: &AppRenewal) -> Msg<proto::keys::NodeId> {
    Msg::Renew {
        app: Arc::from(r.app.as_str()),
        height: r.renewed_height,
        expire: r.expire_blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::keys::Keypair;

    /// A height after every fork the rules know (v8 specs are valid from 1,932,380).
    const H: u64 = 3_000_000;

    fn spec(name: &str) -> String {
        serde_json::json!({
            "version": 8, "name": name, "description": "d",
            "owner": "0x0c894752ba986f3f6f081eeb05c1c4a482fe8717",
            "compose": [{
                "name": "web", "description": "d", "repotag": "busybox:latest",
                "ports": [31001], "domains": [""], "environmentParameters": [],
                "commands": [], "containerPorts": [8080], "containerData": "/data",
                "cpu": 0.1, "ram": 128, "hdd": 1, "repoauth": ""
            }],
            "instances": 3, "contacts": [], "geolocation": [], "expire": 5000,
            "nodes": [], "staticip": false, "enterprise": ""
        })
        .to_string()
    }

    fn reg(key: &Keypair, name: &str, height: u64) -> OwnerSigned<AppRegistration> {
        OwnerSigned::sign(
            key,
            1,
            AppRegistration {
                spec_json: spec(name),
                registered_height: height,
            },
        )
    }

    #[test]
    fn actions_are_checked_stored_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        let mut r = Registry::load(store.clone()).unwrap();
        let (owner, other) = (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]));

        assert!(r.register(reg(&owner, "shop", H), H).unwrap().new);
        // The same signed registration again is a duplicate, not an error.
        assert!(!r.register(reg(&owner, "shop", H), H).unwrap().new);
        assert!(matches!(
            r.register(reg(&other, "shop", H), H),
            Err(RegistryError::Conflict(m)) if m.contains("taken")
        ));
        assert!(matches!(
            r.register(reg(&owner, "future", H + 100), H),
            Err(RegistryError::Invalid { field, .. }) if field == "action.registered_height"
        ));
        let mut bad = reg(&owner, "badspec", H);
        bad.action.spec_json = bad.action.spec_json.replace("\"cpu\":0.1", "\"cpu\":-1");
        let bad = OwnerSigned::sign(&owner, 1, bad.action);
        assert!(matches!(
            r.register(bad, H),
            Err(RegistryError::Invalid { field, .. }) if field.starts_with("spec.compose")
        ));
        let mut forged = reg(&owner, "forged", H);
        forged.action.registered_height = H - 1;
        assert!(matches!(
            r.register(forged, H),
            Err(RegistryError::Signature(_))
        ));

        let renew = |k: &Keypair, h: u64, blocks: u32| {
            OwnerSigned::sign(
                k,
                2,
                AppRenewal {
                    app: "shop".into(),
                    renewed_height: h,
                    expire_blocks: blocks,
                },
            )
        };
        assert!(matches!(
            r.renew(renew(&other, H + 50, 5_000), H + 50),
            Err(RegistryError::NotOwner { .. })
        ));
        assert!(matches!(
            r.renew(renew(&owner, H + 50, 0), H + 50),
            Err(RegistryError::Invalid { field, .. }) if field == "action.expire_blocks"
        ));
        assert!(r.renew(renew(&owner, H + 50, 5_000), H + 50).unwrap().new);
        assert!(
            !r.renew(renew(&owner, H + 40, 5_000), H + 50).unwrap().new,
            "older renewal"
        );

        let cancel = OwnerSigned::sign(&owner, 3, AppCancel { app: "shop".into() });
        assert!(r.cancel(cancel.clone()).unwrap().new);
        assert!(matches!(
            r.renew(renew(&owner, H + 60, 5_000), H + 60),
            Err(RegistryError::Conflict(_))
        ));
        let unknown = OwnerSigned::sign(&owner, 3, AppCancel { app: "nope".into() });
        assert!(matches!(r.cancel(unknown), Err(RegistryError::Unknown(_))));

        // Everything accepted is in the store: a reload replays registration, renewal, cancel.
        drop(r);
        let r = Registry::load(store).unwrap();
        let kinds: Vec<&str> = r.replay().iter().map(|m| m.kind()).collect();
        assert_eq!(kinds, ["register", "renew", "cancel"]);
        assert_eq!(r.get("shop").unwrap().cancel, Some(cancel));
    }
}
