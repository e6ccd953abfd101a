//! What the HTTP API needs from the daemon. The daemon implements [`Backend`]; tests
//! implement it with a small in-memory store.
//!
//! Before a call reaches the backend the server has already checked what needs no state:
//! the body parses, the app name in the path is well formed and matches the body, and the
//! owner signature verifies ([`proto::message::OwnerSigned::verify`]). The backend checks
//! the rest: the spec against the Flux rules (see [`super::ApiError::invalid_spec`]), that
//! a renewal or cancel is signed by the app's registered owner (else
//! [`super::ApiError::Forbidden`]), and the state (unknown app → `NotFound`, registering
//! a name that exists → `Conflict`).

use std::future::Future;

use proto::message::{AppCancel, AppRegistration, AppRenewal, AppUpdate, OwnerSigned};

use super::error::ApiError;
use super::types::{AppStatus, InstanceLocation, NodeStatus, PeerStatus, ReadyStatus};

/// The daemon as the API sees it. Cheap to clone (an `Arc` or channel handle inside): the
/// server clones it into every request.
pub trait Backend: Clone + Send + Sync + 'static {
    fn node(&self) -> impl Future<Output = Result<NodeStatus, ApiError>> + Send;
    /// Readiness: the server answers 200 when `ready`, else 503, with the checks either way.
    fn ready(&self) -> impl Future<Output = ReadyStatus> + Send;
    fn peers(&self) -> impl Future<Output = Result<Vec<PeerStatus>, ApiError>> + Send;
    fn apps(&self) -> impl Future<Output = Result<Vec<AppStatus>, ApiError>> + Send;
    fn app(&self, name: String) -> impl Future<Output = Result<AppStatus, ApiError>> + Send;
    /// Registers an app; the signature is verified, the spec is not yet validated.
    fn register(
        &self,
        reg: OwnerSigned<AppRegistration>,
    ) -> impl Future<Output = Result<AppStatus, ApiError>> + Send;
    /// Renews `name`; `renewal.action.app == name` and the signature verifies.
    fn renew(
        &self,
        name: String,
        renewal: OwnerSigned<AppRenewal>,
    ) -> impl Future<Output = Result<AppStatus, ApiError>> + Send;
    /// Updates `name` to a new spec (a rolling update); the spec names `name` and the
    /// signature verifies. Backends without a ledger (test doubles) refuse it.
    fn update(
        &self,
        name: String,
        update: OwnerSigned<AppUpdate>,
    ) -> impl Future<Output = Result<AppStatus, ApiError>> + Send {
        let _ = (name, update);
        async {
            Err(ApiError::Unavailable {
                message: "this server does not take app updates".into(),
            })
        }
    }
    /// Cancels `name`; `cancel.action.app == name` and the signature verifies.
    fn cancel(
        &self,
        name: String,
        cancel: OwnerSigned<AppCancel>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn locations(
        &self,
        name: String,
    ) -> impl Future<Output = Result<Vec<InstanceLocation>, ApiError>> + Send;
    /// Why the app is placed where it is (or is not): the scheduler's explanation as JSON.
    fn explain(
        &self,
        name: String,
    ) -> impl Future<Output = Result<serde_json::Value, ApiError>> + Send;
    /// Prometheus text exposition of the node's registry.
    fn metrics(&self) -> impl Future<Output = String> + Send;
}
