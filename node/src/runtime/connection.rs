//! A Docker client that survives the engine going away.
//!
//! bollard's unix client refuses to build when the socket file is missing, and a client
//! built against one engine keeps the API version it negotiated. [`Engine`] therefore
//! builds the client lazily, and forgets it whenever a call finds the engine unreachable;
//! the next call connects and negotiates again. The daemon never needs a restart after
//! dockerd comes back.

use std::sync::Mutex;

use bollard::{ClientVersion, Docker};

use super::error::{Op, RuntimeError, classify};

/// The Docker API version fluxnode speaks at most: Docker Engine 20.10's, the oldest engine
/// supported. Newer engines accept it; an older engine makes negotiation fail.
pub const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Lazily connected, self-healing handle to one Docker engine socket.
#[derive(Debug)]
pub(crate) struct Engine {
    endpoint: String,
    timeout_s: u64,
    client: Mutex<Option<Docker>>,
}

impl Engine {
    /// `endpoint` is a unix socket path (`/var/run/docker.sock`, `unix://` prefix allowed);
    /// `timeout_s` bounds each request until the engine's answer starts.
    pub fn new(endpoint: &str, timeout_s: u64) -> Engine {
        Engine {
            endpoint: endpoint.trim_start_matches("unix://").to_owned(),
            timeout_s,
            client: Mutex::new(None),
        }
    }

    /// A connected client, connecting and negotiating the API version if needed.
    pub async fn client(&self) -> Result<Docker, RuntimeError> {
        if let Some(c) = self.lock().as_ref() {
            return Ok(c.clone());
        }
        let docker = Docker::connect_with_unix(&self.endpoint, self.timeout_s, &API_VERSION)
            .map_err(|e| self.classify(e, Op::Other("connect")))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| self.classify(e, Op::Other("API version negotiation")))?;
        let v = docker.client_version();
        if (v.major_version, v.minor_version)
            < (API_VERSION.major_version, API_VERSION.minor_version)
        {
            return Err(RuntimeError::EngineTooOld {
                endpoint: self.endpoint.clone(),
                found: format!("{}.{}", v.major_version, v.minor_version),
                needed: format!(
                    "{}.{}",
                    API_VERSION.major_version, API_VERSION.minor_version
                ),
            });
        }
        *self.lock() = Some(docker.clone());
        Ok(docker)
    }

    /// Classifies a bollard error; an unreachable engine drops the cached client.
    pub fn classify(&self, err: bollard::errors::Error, op: Op<'_>) -> RuntimeError {
        let e = classify(err, op, &self.endpoint, self.timeout_s);
        if matches!(
            e,
            RuntimeError::DaemonUnreachable { .. } | RuntimeError::Timeout { .. }
        ) {
            self.lock().take();
        }
        e
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Docker>> {
        // A poisoned lock only means another thread panicked while swapping the client;
        // the Option inside is still valid.
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }
}
