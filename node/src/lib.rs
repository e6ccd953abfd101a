//! The `fluxnode` daemon and CLI: the I/O shell around the scheduler and protocol.
//!
//! Each subsystem is a module: [`bench`] measures the host, [`runtime`] drives Docker,
//! [`store`] persists state in sled, [`network`] carries gossip and direct messages over
//! libp2p, [`metrics`] exports Prometheus metrics, [`cli`] holds the command-line front ends.

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod health;
pub mod ingress;
pub mod metrics;
pub mod network;
pub mod runtime;
pub mod store;
