//! The node's HTTP API (axum) and its client.
//!
//! The daemon implements [`Backend`] and runs [`serve`]; the CLI talks to it with
//! [`client::ApiClient`]. Request and response bodies are the JSON types in [`types`], and
//! every error is an [`ErrorBody`] naming the field at fault. The route table is in
//! [`server`].

pub mod backend;
pub mod client;
pub mod error;
pub mod extract;
pub mod fluxos;
pub mod listen;
pub mod server;
pub mod types;
pub mod watch;

pub use backend::Backend;
pub use error::ApiError;
pub use server::{router, serve};
pub use types::{
    AppStatus, CapacityStatus, ErrorBody, ErrorDetail, HostedApp, InstanceHealth, InstanceLocation,
    LedgerStatus, NodeStatus, PeerStatus, ReadyCheck, ReadyStatus, RolloutStatus,
};

/// Where the CLI finds the API unless told otherwise (`--api`, `FLUXNODE_API`): this
/// host, on FluxOS's API port.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:16127";
