//! Answers to API requests, built from the service task's state.

use std::collections::BTreeMap;

use proto::keys::NodeId;
use proto::tier::Resources;
use scheduler::expiry::expiry_height;
use scheduler::model::{Capacity, Running};

use super::registry::RegistryError;
use super::{Daemon, Request};
use crate::api::{
    ApiError, AppStatus, CapacityStatus, HostedApp, InstanceLocation, NodeStatus, ReadyCheck,
    ReadyStatus,
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
                let names: Vec<String> = self.registry.iter().map(|(n, _)| n.clone()).collect();
                let apps = names.iter().filter_map(|n| self.app_status(n)).collect();
                let _ = reply.send(apps);
            }
            Request::App { name, reply } => {
                let _ = reply.send(self.app_status(&name));
            }
            Request::Register { signed, reply } => {
                let r = self
                    .registry
                    .register(signed, self.clock.height())
                    .map_err(ApiError::from);
                let _ = reply.send(self.after_owner_action(r));
            }
            Request::Renew { signed, reply } => {
                let r = self
                    .registry
                    .renew(signed, self.clock.height())
                    .map_err(ApiError::from);
                let _ = reply.send(self.after_owner_action(r));
            }
            Request::Cancel { signed, reply } => {
                let r = self.registry.cancel(signed).map_err(ApiError::from);
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

    /// Applies an accepted action (already stored, so the answer survives a crash) and
    /// returns the app's state.
    fn after_owner_action(
        &mut self,
        r: Result<super::registry::Accepted, ApiError>,
    ) -> Result<AppStatus, ApiError> {
        let acc = r?;
        let name = acc.msg.app().map(str::to_string).unwrap_or_default();
        if self.stopping {
            return Err(ApiError::Unavailable {
                message: "the node is shutting down; send it to another node".into(),
            });
        }
        let id = self.id;
        self.apply_owner_action(id, acc, true);
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
                name: "store".into(),
                ok: true,
                detail: format!("open at {}", self.store.path().display()),
            },
            ReadyCheck {
                name: "peers".into(),
                ok: peers_ok,
                detail: if self.single_node {
                    "single-node mode".into()
                } else {
                    format!(
                        "{} connected (set network.bootstrap, or network.single_node = true)",
                        self.peers.len()
                    )
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
        let now = self.clock.now();
        self.view
            .locations(app)
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| *p == self.id || self.view.is_live(*p, now))
            .collect()
    }

    fn app_status(&self, name: &str) -> Option<AppStatus> {
        let entry = self.view.app(name)?;
        let stored = self.registry.get(name)?;
        let hosts = self.hosts(name);
        Some(AppStatus {
            name: name.to_string(),
            owner: entry.record.owner.clone(),
            instances: entry.record.demand.instances,
            running: hosts.len() as u32,
            registered_height: stored.registration.action.registered_height,
            expire_blocks: entry.expire,
            expires_at_height: expiry_height(entry.height, entry.expire),
            removal_height: self.view.removal_height(name).unwrap_or_default(),
            cancelled: entry.cancelled,
            hosts: hosts.iter().map(|h| h.node_id()).collect(),
            spec: serde_json::from_str(&stored.registration.action.spec_json)
                .unwrap_or(serde_json::Value::Null),
        })
    }

    fn locations(&self, name: &str) -> Result<Vec<InstanceLocation>, ApiError> {
        let spec = self.registry.spec(name).ok_or(ApiError::NotFound {
            what: format!("app {name:?}"),
        })?;
        let ports: Vec<u16> = spec
            .compose
            .iter()
            .flat_map(|c| c.ports.iter().copied())
            .collect();
        let mut out = Vec::new();
        for node in self.hosts(name) {
            let ip = if node == self.id {
                super::members::advertised_ip(&self.facts.advertise_addr)
            } else {
                self.members.get(&node).and_then(|o| o.ip())
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
            });
        }
        Ok(out)
    }

    /// For each known node, why the scheduler would or would not place the app there.
    fn explain(&self, name: &str) -> Result<serde_json::Value, ApiError> {
        let entry = self.view.app(name).ok_or(ApiError::NotFound {
            what: format!("app {name:?}"),
        })?;
        let now = self.clock.now();
        let mut nodes = Vec::new();
        let mut ids: Vec<NodeId> = self.members.iter().map(|(id, _)| *id).collect();
        if !ids.contains(&self.id) {
            ids.push(self.id);
        }
        ids.sort();
        for id in &ids {
            if let Some(info) = self.view.info(*id) {
                if self.view.is_live(*id, now) || *id == self.id {
                    nodes.push(info.clone());
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
        Ok(serde_json::json!({
            "app": name,
            "height": self.view.height(now),
            "instances": entry.record.demand.instances,
            "running": running.iter().map(|r| r.node.clone()).collect::<Vec<_>>(),
            "nodes": per_node,
        }))
    }
}
