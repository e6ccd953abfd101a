//! The cloneable handle the HTTP API uses to talk to the service task.

use std::sync::{Arc, Mutex};

use prometheus_client::registry::Registry as MetricRegistry;
use proto::message::{AppCancel, AppRegistration, AppRenewal, AppUpdate, OwnerSigned};
use tokio::sync::{mpsc, oneshot};

use crate::api::{
    ApiError, AppStatus, Backend, InstanceLocation, NodeStatus, PeerStatus, ReadyStatus,
};
use crate::network::NetworkHandle;

/// A request to the service task; each answers on its `reply`.
#[derive(Debug)]
pub enum Request {
    /// This node's identity, capacity, benchmark and hosted apps.
    Node { reply: oneshot::Sender<NodeStatus> },
    /// Readiness checks (Docker, store, peers).
    Ready { reply: oneshot::Sender<ReadyStatus> },
    /// Every app in the registry.
    Apps {
        reply: oneshot::Sender<Vec<AppStatus>>,
    },
    /// One app; `None` when unknown.
    App {
        name: String,
        reply: oneshot::Sender<Option<AppStatus>>,
    },
    /// An owner-signed registration: checked, stored, gossiped, then answered.
    Register {
        signed: OwnerSigned<AppRegistration>,
        reply: oneshot::Sender<Result<AppStatus, ApiError>>,
    },
    Renew {
        signed: OwnerSigned<AppRenewal>,
        reply: oneshot::Sender<Result<AppStatus, ApiError>>,
    },
    Cancel {
        signed: OwnerSigned<AppCancel>,
        reply: oneshot::Sender<Result<(), ApiError>>,
    },
    /// An owner-signed update: checked against the app's current spec, stored, gossiped;
    /// the group's coordinator then rolls it out.
    Update {
        signed: OwnerSigned<AppUpdate>,
        reply: oneshot::Sender<Result<AppStatus, ApiError>>,
    },
    /// Where the app's instances answer.
    Locations {
        name: String,
        reply: oneshot::Sender<Result<Vec<InstanceLocation>, ApiError>>,
    },
    /// The scheduler's reasons for the app's placement, node by node.
    Explain {
        name: String,
        reply: oneshot::Sender<Result<serde_json::Value, ApiError>>,
    },
}

/// Cheap to clone; every clone talks to the same service task.
#[derive(Debug, Clone)]
pub struct DaemonHandle {
    requests: mpsc::Sender<Request>,
    network: NetworkHandle,
    metrics: Arc<Mutex<MetricRegistry>>,
}

fn stopped() -> ApiError {
    ApiError::Unavailable {
        message: "the node is shutting down".into(),
    }
}

impl DaemonHandle {
    pub(super) fn new(
        requests: mpsc::Sender<Request>,
        network: NetworkHandle,
        metrics: Arc<Mutex<MetricRegistry>>,
    ) -> Self {
        Self {
            requests,
            network,
            metrics,
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(make(reply))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }
}

impl Backend for DaemonHandle {
    async fn node(&self) -> Result<NodeStatus, ApiError> {
        self.ask(|reply| Request::Node { reply }).await
    }

    async fn ready(&self) -> ReadyStatus {
        self.ask(|reply| Request::Ready { reply })
            .await
            .unwrap_or_else(|e| ReadyStatus {
                ready: false,
                checks: vec![crate::api::ReadyCheck {
                    name: "daemon".into(),
                    ok: false,
                    detail: e.to_string(),
                }],
            })
    }

    async fn peers(&self) -> Result<Vec<PeerStatus>, ApiError> {
        let peers = self.network.peers().await.map_err(|_| stopped())?;
        Ok(peers
            .into_iter()
            .map(|p| PeerStatus {
                id: p.peer.to_string(),
                addresses: p.addresses.iter().map(|a| a.to_string()).collect(),
                topics: p
                    .topics
                    .iter()
                    .map(|t| crate::network::topic_label(*t).to_string())
                    .collect(),
                gossip_score: p.gossip_score,
            })
            .collect())
    }

    async fn apps(&self) -> Result<Vec<AppStatus>, ApiError> {
        self.ask(|reply| Request::Apps { reply }).await
    }

    async fn app(&self, name: String) -> Result<AppStatus, ApiError> {
        let what = format!("app {name:?}");
        self.ask(|reply| Request::App { name, reply })
            .await?
            .ok_or(ApiError::NotFound { what })
    }

    async fn register(&self, signed: OwnerSigned<AppRegistration>) -> Result<AppStatus, ApiError> {
        self.ask(|reply| Request::Register { signed, reply })
            .await?
    }

    async fn renew(
        &self,
        name: String,
        signed: OwnerSigned<AppRenewal>,
    ) -> Result<AppStatus, ApiError> {
        if signed.action.app != name {
            return Err(ApiError::bad_request(
                "action.app",
                format!("names {:?} but the URL names {name:?}", signed.action.app),
            ));
        }
        self.ask(|reply| Request::Renew { signed, reply }).await?
    }

    async fn update(
        &self,
        name: String,
        signed: OwnerSigned<AppUpdate>,
    ) -> Result<AppStatus, ApiError> {
        let _ = name;
        self.ask(|reply| Request::Update { signed, reply }).await?
    }

    async fn cancel(&self, name: String, signed: OwnerSigned<AppCancel>) -> Result<(), ApiError> {
        if signed.action.app != name {
            return Err(ApiError::bad_request(
                "action.app",
                format!("names {:?} but the URL names {name:?}", signed.action.app),
            ));
        }
        self.ask(|reply| Request::Cancel { signed, reply }).await?
    }

    async fn locations(&self, name: String) -> Result<Vec<InstanceLocation>, ApiError> {
        self.ask(|reply| Request::Locations { name, reply }).await?
    }

    async fn explain(&self, name: String) -> Result<serde_json::Value, ApiError> {
        self.ask(|reply| Request::Explain { name, reply }).await?
    }

    async fn metrics(&self) -> String {
        let registry = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        crate::metrics::encode_text(&registry).unwrap_or_default()
    }
}
