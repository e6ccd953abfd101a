//! Answers to API requests, built from the service task's state.

use std::collections::BTreeMap;

use proto::health::Health;
use proto::keys::NodeId;
use proto::tier::Resources;
use scheduler::expiry::expiry_height;
use scheduler::model::{Capacity, Running};

use proto::message::Message;
use scheduler::expiry::removal_height;

use super::registry::{Origin, RegistryError};
use super::{Daemon, Request};
use crate::api::{
    ApiError, AppStatus, CapacityStatus, HostedApp, InstanceHealth, InstanceLocation, LedgerStatus,
    NodeStatus, ReadyCheck, ReadyStatus, RolloutStatus,
};

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Signature(e) => ApiError::Forbidden {
                message: e.to_string(),
            },
            RegistryError::Invalid { field, message } => ApiError::BadRequest { field, message },
            RegistryError::Unknown(app) => ApiError::NotFound {
                what: format!("app {app:?}"),
            },
            e @ RegistryError::NotOwner { .. } => ApiError::Forbidden {
                message: e.to_string(),
            },
            RegistryError::Conflict(message) => ApiError::Conflict { message },
            e @ RegistryError::Ledger(_) => ApiError::Conflict {
                message: e.to_string(),
            },
            e @ RegistryError::Store(_) => ApiError::Internal {
                message: e.to_string(),
            },
        }
    }
}

fn resources(c: Capacity) -> Resources {
    Resources::new(c.cpu_milli as f64 / 1_000.0, c.ram_mb, c.hdd_gb)
}

impl Daemon {
    pub(super) fn on_request(&mut self, req: Request) {
        // A dropped receiver (client gone) is not an error.
        match req {
            Request::Node { reply } => {
                let _ = reply.send(self.node_status());
            }
            Request::Ready { reply } => {
                let _ = reply.send(self.ready_status());
            }
            Request::Apps { reply } => {
                let names: Vec<String> = self
                    .registry
                    .ledger()
                    .apps()
                    .map(|a| a.name().to_string())
                    .collect();
                let apps = names.iter().filter_map(|n| self.app_status(n)).collect();
                let _ = reply.send(apps);
            }
            Request::App { name, reply } => {
                let _ = reply.send(self.app_status(&name));
            }
            Request::Register { signed, reply } => {
                let r = self.owner_action(Message::AppRegistration(signed));
                let _ = reply.send(self.after_owner_action(r));
            }
            Request::Renew { signed, reply } => {
                let r = self.owner_action(Message::AppRenewal(signed));
                let _ = reply.send(self.after_owner_action(r));
            }
            Request::Update { signed, reply } => {
                let r = self.owner_action(Message::AppUpdate(signed));
                let _ = reply.send(self.after_owner_action(r));
            }
            Request::Cancel { signed, reply } => {
                let r = self.owner_action(Message::AppCancel(signed));
                let _ = reply.send(self.after_owner_action(r).map(|_| ()));
            }
            Request::Locations { name, reply } => {
                let _ = reply.send(self.locations(&name));
            }
            Request::Explain { name, reply } => {
                let _ = reply.send(self.explain(&name));
            }
        }
    }

    /// An owner action from the API: checked once, at this edge, then held.
    fn owner_action(&mut self, m: Message) -> Result<super::registry::Accepted, ApiError> {
        self.registry
            .receive(m, self.clock.height(), Origin::Api)
            .map_err(ApiError::from)
    }

    /// Applies an accepted action (already stored, so the answer survives a crash) and
    /// returns the app's state.
    fn after_owner_action(
        &mut self,
        r: Result<super::registry::Accepted, ApiError>,
    ) -> Result<AppStatus, ApiError> {
        let acc = r?;
        let name = acc.app.clone();
        if self.stopping {
            return Err(ApiError::Unavailable {
                message: "the node is shutting down; send it to another node".into(),
            });
        }
        self.apply_owner_action(acc, true, false);
        self.app_status(&name).ok_or(ApiError::Internal {
            message: format!("app {name:?} was stored but is not in the view"),
        })
    }

    fn node_status(&self) -> NodeStatus {
        let offered = Capacity::from(self.facts.offered);
        let free = self.node.free();
        let reserved = self.node.reserved();
        NodeStatus {
            id: self.id.node_id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            tier: format!("{:?}", self.facts.tier).to_lowercase(),
            geo: self.facts.location.to_string(),
            advertise_addr: self.facts.advertise_addr.clone(),
            height: self.clock.height(),
            uptime_secs: self.started.elapsed().as_secs(),
            capacity: CapacityStatus {
                total: self.facts.offered,
                used: resources(offered.saturating_sub(free).saturating_sub(reserved)),
                reserved: resources(reserved),
                free: resources(free),
            },
            benchmark: self
                .bench
                .as_ref()
                .and_then(|b| serde_json::to_value(b).ok()),
            peers: self.peers.len(),
            ledger: LedgerStatus {
                apps: self.registry.ledger().len(),
                actions: self.registry.ledger().actions().count(),
                digest: self.registry.ledger().digest().short(),
                tombstones: self.registry.ledger().tombstones(),
                checks: self.registry.checks(),
            },
            hosted: self
                .node
                .hosted()
                .map(|(a, running)| HostedApp {
                    name: a.to_string(),
                    running,
                })
                .collect(),
        }
    }

    fn ready_status(&self) -> ReadyStatus {
        let peers_ok = self.single_node || !self.peers.is_empty();
        let checks = vec![
            ReadyCheck {
                name: "docker".into(),
                ok: self.docker_ok,
                detail: if self.docker_ok {
                    "engine answers".into()
                } else {
                    "Docker engine does not answer; check docker.socket and that dockerd runs"
                        .into()
                },
            },
            ReadyCheck {
                name: "volumes".into(),
                ok: self.volumes.is_ok(),
                detail: match &self.volumes {
                    Ok(true) => "fixed-size (loop-attached ext4 images): hdd enforced".into(),
                    Ok(false) => {
                        "unbounded by configuration (docker.volumes): hdd NOT enforced".into()
                    }
                    Err(reason) => format!("cannot make fixed-size volumes: {reason}"),
                },
            },
            ReadyCheck {
                name: "store".into(),
                ok: self.store.healthy(),
                detail: match self.store.last_error() {
                    None => format!("open at {}", self.store.path().display()),
                    Some(e) => e,
                },
            },
            ReadyCheck {
                name: "peers".into(),
                ok: peers_ok,
                detail: if self.single_node {
                    "single-node mode".into()
                } else if self.peers.is_empty() {
                    "0 connected (set network.bootstrap, or network.single_node = true)".into()
                } else {
                    format!("{} connected", self.peers.len())
                },
            },
            ReadyCheck {
                name: "gossip".into(),
                ok: self.single_node || self.gossip.ok,
                detail: self.gossip.detail.clone(),
            },
        ];
        ReadyStatus {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }

    /// Live nodes that reported running `app`.
    fn hosts(&self, app: &str) -> Vec<NodeId> {
        self.reports(app).into_iter().map(|(p, _)| p).collect()
    }

    /// The health of `p`'s instance of `app`: this node's own probes, else `p`'s latest
    /// running report.
    pub(super) fn instance_health(&self, app: &str, p: NodeId) -> Health {
        if p == self.id {
            self.node.health_of(app).unwrap_or(Health::Starting)
        } else {
            self.view.health(app, p)
        }
    }

    /// The spec version `p`'s instance of `app` runs: this node's own, else `p`'s report.
    fn instance_version(&self, app: &str, p: NodeId) -> u64 {
        if p == self.id {
            self.node.version_of(app).unwrap_or(0)
        } else {
            self.view.version_at(app, p)
        }
    }

    /// The last rolling update of `app` as this node sees it; `None` before any update.
    fn rollout_status(&self, app: &str, hosts: &[NodeId]) -> Option<RolloutStatus> {
        let e = self.view.app(app)?;
        if e.versions.len() < 2 {
            return None;
        }
        let updated = hosts
            .iter()
            .filter(|&&h| {
                self.instance_version(app, h) == e.record.version
                    && self.instance_health(app, h) == Health::Healthy
            })
            .count() as u32;
        if let Some(r) = e
            .reverted
            .as_ref()
            .filter(|r| r.version == e.record.version)
        {
            return Some(RolloutStatus {
                state: "reverted".into(),
                version: r.version,
                updated,
                reverted_to: Some(r.good),
                reason: Some(r.reason.to_string()),
                reverted_by: Some(r.by.clone()),
            });
        }
        let done = updated >= e.record.demand.instances
            && hosts
                .iter()
                .all(|&h| self.instance_version(app, h) == e.record.version);
        Some(RolloutStatus {
            state: if done { "done" } else { "in_progress" }.into(),
            version: e.record.version,
            updated,
            reverted_to: None,
            reason: None,
            reverted_by: None,
        })
    }

    /// Live nodes that reported running `app`, with the time of their latest report.
    pub(super) fn reports(&self, app: &str) -> Vec<(NodeId, scheduler::protocol::Millis)> {
        let now = self.clock.now();
        self.view
            .locations(app)
            .into_iter()
            .filter(|(p, _)| *p == self.id || self.view.is_live(*p, now))
            .collect()
    }

    /// An app as the ledger holds it (`name` in any case), with its hosts from the view.
    fn app_status(&self, name: &str) -> Option<AppStatus> {
        let app = self.registry.app(name)?;
        let name: &str = app.name();
        let hosts = self.hosts(name);
        Some(AppStatus {
            name: name.to_string(),
            owner: app.owner().to_string(),
            instances: app.record.demand.instances,
            running: hosts.len() as u32,
            registered_height: app.record.demand.height,
            expire_blocks: app.expire,
            expires_at_height: expiry_height(app.height, app.expire),
            removal_height: removal_height(app.height, app.expire),
            cancelled: app.cancelled(),
            hosts: hosts.iter().map(|h| h.node_id()).collect(),
            healthy: hosts
                .iter()
                .filter(|h| self.instance_health(name, **h) == Health::Healthy)
                .count() as u32,
            instance_health: hosts
                .iter()
                .map(|h| InstanceHealth {
                    node: h.node_id(),
                    health: self.instance_health(name, *h),
                    version: self.instance_version(name, *h),
                })
                .collect(),
            version: app.record.version,
            target_version: self.view.target_version(name).unwrap_or(app.record.version),
            rollout: self.rollout_status(name, &hosts),
            spec: self
                .registry
                .spec_json(name)
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or(serde_json::Value::Null),
        })
    }

    fn locations(&self, name: &str) -> Result<Vec<InstanceLocation>, ApiError> {
        let spec = self.registry.spec(name).ok_or(ApiError::NotFound {
            what: format!("app {name:?}"),
        })?;
        let name: &str = &spec.name;
        let ports: Vec<u16> = spec
            .compose
            .iter()
            .flat_map(|c| c.ports.iter().copied())
            .collect();
        let mut out = Vec::new();
        for (node, reported_at) in self.reports(name) {
            let (ip, host_uptime_secs) = if node == self.id {
                (
                    super::members::advertised_ip(&self.facts.advertise_addr),
                    self.started.elapsed().as_secs(),
                )
            } else {
                let observed = self.members.get(&node);
                (
                    observed.and_then(|o| o.ip()),
                    observed.map_or(0, |o| o.last.claimed_uptime_secs),
                )
            };
            let Some(ip) = ip else { continue };
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.clone()
            };
            out.push(InstanceLocation {
                node: node.node_id(),
                addresses: ports.iter().map(|p| format!("{host}:{p}")).collect(),
                ip,
                ports: ports.clone(),
                reported_at_ms: reported_at,
                host_uptime_secs,
                health: self.instance_health(name, node),
            });
        }
        Ok(out)
    }

    /// For each known node, why the scheduler would or would not place the app there.
    fn explain(&self, name: &str) -> Result<serde_json::Value, ApiError> {
        let entry = self
            .registry
            .app(name)
            .and_then(|a| self.view.app(a.name()))
            .ok_or(ApiError::NotFound {
                what: format!("app {name:?}"),
            })?;
        let name: &str = &entry.record.name;
        let now = self.clock.now();
        let mut nodes = Vec::new();
        let mut ids: Vec<NodeId> = self.members.iter().map(|(id, _)| *id).collect();
        if !ids.contains(&self.id) {
            ids.push(self.id);
        }
        ids.sort();
        // Who each node is, for `app explain`'s table: geo, tier, score, address.
        let mut members = serde_json::Map::new();
        for id in &ids {
            if let Some(info) = self.view.info(*id) {
                if self.view.is_live(*id, now) || *id == self.id {
                    nodes.push(info.clone());
                    let ip = if *id == self.id {
                        super::members::advertised_ip(&self.facts.advertise_addr)
                    } else {
                        self.members.get(id).and_then(|m| m.ip())
                    };
                    members.insert(
                        info.id.clone(),
                        serde_json::json!({
                            "geo": info.geo.to_string(),
                            "tier": info.tier.to_string(),
                            "bench_score": info.bench_score,
                            "ip": ip,
                        }),
                    );
                }
            }
        }
        let running: Vec<Running> = self
            .hosts(name)
            .iter()
            .map(|h| Running::new(name, h.node_id()))
            .collect();
        let mut demand = entry.record.demand.clone();
        demand.height = entry.height;
        demand.expire = entry.expire;
        let apps = [demand];
        let mut per_node = BTreeMap::new();
        for n in &nodes {
            let why = scheduler::explain::explain(
                &nodes,
                &apps,
                &running,
                &self.view.params,
                name,
                &n.id,
            )
            .map(|e| e.to_string())
            .unwrap_or_else(|e| e.to_string());
            per_node.insert(n.id.clone(), why);
        }
        // What actually happened on chosen nodes: running (by their reports), or this
        // node's own start outcome (pull refused, start refused, starting).
        let mut outcomes = BTreeMap::new();
        for r in &running {
            outcomes.insert(r.node.clone(), "running".to_string());
        }
        if let Some(o) = self.outcomes.get(name) {
            outcomes
                .entry(self.id.node_id())
                .or_insert_with(|| o.to_string());
        }
        Ok(serde_json::json!({
            "app": name,
            "height": self.view.height(now),
            "instances": entry.record.demand.instances,
            "running": running.iter().map(|r| r.node.clone()).collect::<Vec<_>>(),
            "nodes": per_node,
            "outcomes": outcomes,
            "members": members,
        }))
    }
}
