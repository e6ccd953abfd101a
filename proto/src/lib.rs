//! Wire and API types for fluxnode.
//!
//! - [`spec`]: the Flux app specification (versions 1–8) as Rust types, and its validation
//!   with the FluxOS rules ([`validate`]).
//! - [`geo`]: node locations (`CONT_CC_REGION`) and app geolocation expressions.
//! - [`tier`]: node tiers, their published minimums, per-app caps and the system reserve.
//! - [`keys`], [`envelope`], [`message`], [`encoding`]: ed25519 identities, signed
//!   envelopes, protocol messages and their compact gossip encoding.
//!
//! Nothing here performs I/O or reads a clock: time is always an argument.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod encoding;
pub mod envelope;
pub mod geo;
pub mod health;
pub mod keys;
pub mod message;
pub mod spec;
pub mod tier;
pub mod validate;
