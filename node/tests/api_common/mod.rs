//! An in-memory [`Backend`] for the API and CLI tests: it keeps apps in a map, really
//! verifies owner signatures, and checks that renew/cancel come from the registered owner.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fluxnode::api::{
    ApiError, AppStatus, Backend, CapacityStatus, HostedApp, InstanceLocation, NodeStatus,
    PeerStatus, ReadyCheck, ReadyStatus,
};
use proto::keys::{Keypair, PublicKey};
use proto::message::{AppCancel, AppRegistration, AppRenewal, OwnerSigned};
use proto::spec::AppSpec;
use proto::tier::Resources;
use scheduler::expiry::{expiry_height, removal_height};

pub const NODE_ID: &str = "12D3KooWTestNodeTestNodeTestNodeTestNodeTestNode";

#[derive(Debug, Clone)]
struct Stored {
    owner: PublicKey,
    spec: AppSpec,
    spec_value: serde_json::Value,
    registered_height: u64,
    expire_blocks: u32,
    cancelled: bool,
}

#[derive(Debug)]
struct Inner {
    apps: Mutex<BTreeMap<String, Stored>>,
    ready: AtomicBool,
    height: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct TestBackend {
    inner: Arc<Inner>,
}

impl Default for TestBackend {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                apps: Mutex::new(BTreeMap::new()),
                ready: AtomicBool::new(true),
                height: AtomicU64::new(2_000_000),
            }),
        }
    }
}

impl TestBackend {
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::SeqCst);
    }
    pub fn set_height(&self, height: u64) {
        self.inner.height.store(height, Ordering::SeqCst);
    }
    pub fn height(&self) -> u64 {
        self.inner.height.load(Ordering::SeqCst)
    }
    /// (owner node id, registered height, expire blocks, cancelled) of a stored app.
    pub fn stored(&self, name: &str) -> Option<(String, u64, u32, bool)> {
        self.apps().get(name).map(|s| {
            (
                s.owner.node_id(),
                s.registered_height,
                s.expire_blocks,
                s.cancelled,
            )
        })
    }

    fn apps(&self) -> MutexGuard<'_, BTreeMap<String, Stored>> {
        self.inner.apps.lock().unwrap()
    }

    fn status(name: &str, s: &Stored) -> AppStatus {
        let running = if s.cancelled { 0 } else { 1 };
        AppStatus {
            name: name.to_owned(),
            owner: s.owner.node_id(),
            instances: s.spec.instances,
            running,
            registered_height: s.registered_height,
            expire_blocks: s.expire_blocks,
            expires_at_height: expiry_height(s.registered_height, s.expire_blocks),
            removal_height: removal_height(s.registered_height, s.expire_blocks),
            cancelled: s.cancelled,
            hosts: if s.cancelled {
                vec![]
            } else {
                vec![NODE_ID.to_owned()]
            },
            spec: s.spec_value.clone(),
            healthy: 0,
            instance_health: Vec::new(),
            version: 1,
            target_version: 1,
            rollout: None,
        }
    }

    fn verify<A: proto::message::OwnerAction>(signed: &OwnerSigned<A>) -> Result<(), ApiError> {
        signed.verify().map_err(|e| ApiError::Forbidden {
            message: e.to_string(),
        })
    }

    /// The stored app `name`, checked to be owned by `owner` and not cancelled.
    fn owned<'a>(
        apps: &'a mut BTreeMap<String, Stored>,
        name: &str,
        owner: &PublicKey,
    ) -> Result<&'a mut Stored, ApiError> {
        let stored = apps
            .get_mut(name)
            .ok_or_else(|| ApiError::not_found(format!("app {name}")))?;
        if stored.owner != *owner {
            return Err(ApiError::Forbidden {
                message: format!(
                    "app {name} belongs to {}, not {}",
                    stored.owner.node_id(),
                    owner.node_id()
                ),
            });
        }
        if stored.cancelled {
            return Err(ApiError::Conflict {
                message: format!("app {name} is cancelled"),
            });
        }
        Ok(stored)
    }
}

impl Backend for TestBackend {
    async fn node(&self) -> Result<NodeStatus, ApiError> {
        let hosted = self
            .apps()
            .iter()
            .filter(|(_, s)| !s.cancelled)
            .map(|(n, _)| HostedApp {
                name: n.clone(),
                running: true,
            })
            .collect();
        let total = Resources::new(3.0, 14_000, 160);
        Ok(NodeStatus {
            id: NODE_ID.to_owned(),
            version: "test".to_owned(),
            tier: "cumulus".to_owned(),
            geo: "EU_DE_HE".to_owned(),
            advertise_addr: "127.0.0.1".to_owned(),
            height: self.height(),
            uptime_secs: 3_725,
            capacity: CapacityStatus {
                total,
                used: Resources::default(),
                reserved: Resources::default(),
                free: total,
            },
            benchmark: None,
            peers: 1,
            ledger: Default::default(),
            hosted,
        })
    }

    async fn ready(&self) -> ReadyStatus {
        let ok = self.inner.ready.load(Ordering::SeqCst);
        ReadyStatus {
            ready: ok,
            checks: vec![ReadyCheck {
                name: "store".to_owned(),
                ok,
                detail: if ok { "open" } else { "opening" }.to_owned(),
            }],
        }
    }

    async fn peers(&self) -> Result<Vec<PeerStatus>, ApiError> {
        Ok(vec![PeerStatus {
            id: "12D3KooWPeer".to_owned(),
            addresses: vec!["/ip4/127.0.0.2/tcp/16125".to_owned()],
            topics: vec!["fluxnode/apps/1".to_owned()],
            gossip_score: Some(1.5),
        }])
    }

    async fn apps(&self) -> Result<Vec<AppStatus>, ApiError> {
        Ok(self
            .apps()
            .iter()
            .map(|(n, s)| Self::status(n, s))
            .collect())
    }

    async fn app(&self, name: String) -> Result<AppStatus, ApiError> {
        let apps = self.apps();
        let s = apps
            .get(&name)
            .ok_or_else(|| ApiError::not_found(format!("app {name}")))?;
        Ok(Self::status(&name, s))
    }

    async fn register(&self, reg: OwnerSigned<AppRegistration>) -> Result<AppStatus, ApiError> {
        Self::verify(&reg)?;
        let spec = AppSpec::from_json(reg.action.spec_json.as_bytes())
            .map_err(|e| ApiError::invalid_spec("action.spec_json", &e.violations))?;
        let spec_value = serde_json::from_str(&reg.action.spec_json)
            .map_err(|e| ApiError::bad_request("action.spec_json", e.to_string()))?;
        let mut apps = self.apps();
        if apps.contains_key(&spec.name) {
            return Err(ApiError::Conflict {
                message: format!("app {} is already registered", spec.name),
            });
        }
        let name = spec.name.clone();
        let stored = Stored {
            owner: reg.owner,
            expire_blocks: spec.expire_blocks(),
            spec,
            spec_value,
            registered_height: reg.action.registered_height,
            cancelled: false,
        };
        let status = Self::status(&name, &stored);
        apps.insert(name, stored);
        Ok(status)
    }

    async fn renew(
        &self,
        name: String,
        renewal: OwnerSigned<AppRenewal>,
    ) -> Result<AppStatus, ApiError> {
        Self::verify(&renewal)?;
        let mut apps = self.apps();
        let s = Self::owned(&mut apps, &name, &renewal.owner)?;
        s.registered_height = renewal.action.renewed_height;
        s.expire_blocks = renewal.action.expire_blocks;
        Ok(Self::status(&name, s))
    }

    async fn cancel(&self, name: String, cancel: OwnerSigned<AppCancel>) -> Result<(), ApiError> {
        Self::verify(&cancel)?;
        let mut apps = self.apps();
        Self::owned(&mut apps, &name, &cancel.owner)?.cancelled = true;
        Ok(())
    }

    async fn locations(&self, name: String) -> Result<Vec<InstanceLocation>, ApiError> {
        let apps = self.apps();
        let s = apps
            .get(&name)
            .ok_or_else(|| ApiError::not_found(format!("app {name}")))?;
        if s.cancelled {
            return Ok(vec![]);
        }
        let ports: Vec<u16> = s
            .spec
            .compose
            .iter()
            .flat_map(|c| c.ports.iter().copied())
            .collect();
        Ok(vec![InstanceLocation {
            node: NODE_ID.to_owned(),
            ip: "127.0.0.1".to_owned(),
            addresses: ports.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            ports,
            reported_at_ms: 1_700_000_000_000,
            host_uptime_secs: 3_725,
            health: proto::health::Health::Healthy,
        }])
    }

    async fn explain(&self, name: String) -> Result<serde_json::Value, ApiError> {
        self.app(name.clone()).await?;
        // The daemon's shape (see `Daemon::explain`): one node, this one, hosting the app.
        Ok(serde_json::json!({
            "app": name,
            "height": self.height(),
            "instances": 1,
            "running": [NODE_ID],
            "nodes": { NODE_ID: "placed: picked in the continent pass" },
            "members": { NODE_ID: {
                "geo": "EU_DE_HE", "tier": "cumulus", "bench_score": 100.0, "ip": "127.0.0.1"
            } },
        }))
    }

    async fn metrics(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        let m = fluxnode::metrics::Metrics::register(&mut registry);
        m.peers.set(1);
        fluxnode::metrics::encode_text(&registry).unwrap_or_default()
    }
}

/// Serves `backend` on 127.0.0.1:0 from a thread with its own runtime (for tests that run
/// the CLI binary, a blocking child process); returns the base URL. The server lives as
/// long as the test process.
pub fn serve_in_thread(backend: TestBackend) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            fluxnode::api::serve(listener, backend, std::future::pending())
                .await
                .unwrap();
        });
    });
    let addr: SocketAddr = rx.recv().unwrap();
    format!("http://{addr}")
}

/// A port nothing listens on (bound, then released).
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

pub fn owner(seed: u8) -> Keypair {
    Keypair::from_seed(&[seed; 32])
}

/// A valid Flux spec from the corpus: `Aave`, v6, one component on port 33702.
pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../proto/tests/data/flux-specs/valid/v6-aave-1comp.json")
}

pub fn fixture_spec() -> String {
    std::fs::read_to_string(fixture_path()).unwrap()
}
