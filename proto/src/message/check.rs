//! Structural checks on a decoded message, before any of it reaches the scheduler: numbers
//! finite and in range, strings and lists bounded, no duplicates where the protocol
//! forbids them. Semantic checks (is the spec valid, is this the app's owner, is the round
//! current) belong to the protocol state machine.

use std::collections::BTreeSet;

use super::{Message, NodeAnnouncement, RunningReport};

/// Longest app name accepted on the wire. A sanity bound only (Flux's own, stricter name
/// rules are enforced by spec validation); it keeps names usable as map keys and labels.
pub const MAX_APP_NAME_LEN: usize = 64;

/// Longest advertise address: a multiaddr with a DNS name (at most 253 bytes), transport,
/// port and a `/p2p/<peer id>` suffix (58 bytes) fits with room to spare.
pub const MAX_ADDR_LEN: usize = 512;

/// Longest network id: the node writes 16 hex digits; the bound keeps room for another
/// scheme while refusing a megabyte of junk.
pub const MAX_NETWORK_LEN: usize = 64;

/// Most winners in one assignment: FluxOS allows at most 100 instances of an app.
pub const MAX_WINNERS: usize = 100;

/// Most apps in one running report: far beyond any real node (a 64-thread host holds at
/// most 630 instances of the smallest, 0.1-core, app after its 1-core reserve). The
/// envelope size limit also applies and may bind first for long app names.
pub const MAX_RUNNING_APPS: usize = 1_000;

/// Longest planned-restart window a node may announce: 1 hour, enough for an OS upgrade
/// and reboot. Without a bound a node could claim a permanent "restart" and keep its apps
/// from being re-placed while it is in fact gone.
pub const MAX_RESTART_WINDOW_MS: u64 = 60 * 60 * 1000;

/// A message that decoded but is not well-formed. Each names the field to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("{field}: must be a finite number >= 0, got {value}")]
    BadNumber { field: &'static str, value: f64 },
    #[error("{field}: must not be empty")]
    Empty { field: &'static str },
    #[error("{field}: {len} bytes is longer than the limit of {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field}: {len} entries is more than the limit of {max}")]
    TooMany {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field}: {value} appears more than once")]
    Duplicate { field: &'static str, value: String },
    #[error("buckets: {len} entries, a ledger summary has exactly {want}")]
    BucketCount { len: usize, want: usize },
    #[error(
        "planned_restart: window {from_ms}..{until_ms} must have from <= until and last at most {max_ms} ms"
    )]
    BadRestartWindow {
        from_ms: u64,
        until_ms: u64,
        max_ms: u64,
    },
}

impl Message {
    /// Structural checks; see the module docs.
    pub fn check(&self) -> Result<(), MessageError> {
        match self {
            Message::Announcement(a) => check_announcement(a),
            Message::AppRegistration(r) => {
                if r.action.spec_json.is_empty() {
                    return Err(MessageError::Empty { field: "spec_json" });
                }
                Ok(())
            }
            Message::AppRenewal(r) => app_name("app", &r.action.app),
            Message::AppCancel(c) => app_name("app", &c.action.app),
            Message::Bid(b) => {
                app_name("app", &b.app)?;
                number("offered.cpu", b.offered.cpu)
            }
            Message::Assignment(a) => {
                app_name("app", &a.app)?;
                if a.winners.len() > MAX_WINNERS {
                    return Err(MessageError::TooMany {
                        field: "winners",
                        len: a.winners.len(),
                        max: MAX_WINNERS,
                    });
                }
                let mut seen = BTreeSet::new();
                for w in &a.winners {
                    if !seen.insert(w) {
                        return Err(MessageError::Duplicate {
                            field: "winners",
                            value: w.node_id(),
                        });
                    }
                }
                Ok(())
            }
            Message::RunningReport(r) => check_running(r),
            Message::CallForBids(m) => app_name("app", &m.app),
            Message::Decline(m) => app_name("app", &m.app),
            Message::GroupBeat(m) => app_name("app", &m.app),
            Message::Stop(m) => app_name("app", &m.app),
            Message::MemberGone(m) => app_name("app", &m.app),
            Message::AppUpdate(u) => {
                if u.action.spec_json.is_empty() {
                    return Err(MessageError::Empty { field: "spec_json" });
                }
                Ok(())
            }
            Message::UpdateOrder(m) => app_name("app", &m.app),
            Message::RolloutReverted(m) => {
                app_name("app", &m.app)?;
                if m.reason.len() > super::MAX_REASON_LEN {
                    return Err(MessageError::TooLong {
                        field: "reason",
                        len: m.reason.len(),
                        max: super::MAX_REASON_LEN,
                    });
                }
                Ok(())
            }
            Message::LedgerSummary(m) => {
                if m.buckets.len() != super::LEDGER_BUCKETS {
                    return Err(MessageError::BucketCount {
                        len: m.buckets.len(),
                        want: super::LEDGER_BUCKETS,
                    });
                }
                Ok(())
            }
        }
    }
}

fn check_announcement(a: &NodeAnnouncement) -> Result<(), MessageError> {
    number("total.cpu", a.total.cpu)?;
    number("used.cpu", a.used.cpu)?;
    number("bench_score", a.bench_score)?;
    if a.advertise_addr.is_empty() {
        return Err(MessageError::Empty {
            field: "advertise_addr",
        });
    }
    if a.advertise_addr.len() > MAX_ADDR_LEN {
        return Err(MessageError::TooLong {
            field: "advertise_addr",
            len: a.advertise_addr.len(),
            max: MAX_ADDR_LEN,
        });
    }
    if a.network.is_empty() {
        return Err(MessageError::Empty { field: "network" });
    }
    if a.network.len() > MAX_NETWORK_LEN {
        return Err(MessageError::TooLong {
            field: "network",
            len: a.network.len(),
            max: MAX_NETWORK_LEN,
        });
    }
    if let Some(w) = a.planned_restart {
        let ok = w.from_ms <= w.until_ms && w.until_ms - w.from_ms <= MAX_RESTART_WINDOW_MS;
        if !ok {
            return Err(MessageError::BadRestartWindow {
                from_ms: w.from_ms,
                until_ms: w.until_ms,
                max_ms: MAX_RESTART_WINDOW_MS,
            });
        }
    }
    Ok(())
}

fn check_running(r: &RunningReport) -> Result<(), MessageError> {
    if r.apps.len() > MAX_RUNNING_APPS {
        return Err(MessageError::TooMany {
            field: "apps",
            len: r.apps.len(),
            max: MAX_RUNNING_APPS,
        });
    }
    let mut seen = BTreeSet::new();
    for entry in &r.apps {
        app_name("apps[].app", &entry.app)?;
        if !seen.insert(entry.app.as_str()) {
            return Err(MessageError::Duplicate {
                field: "apps[].app",
                value: entry.app.clone(),
            });
        }
    }
    Ok(())
}

fn app_name(field: &'static str, name: &str) -> Result<(), MessageError> {
    if name.is_empty() {
        return Err(MessageError::Empty { field });
    }
    if name.len() > MAX_APP_NAME_LEN {
        return Err(MessageError::TooLong {
            field,
            len: name.len(),
            max: MAX_APP_NAME_LEN,
        });
    }
    Ok(())
}

fn number(field: &'static str, value: f64) -> Result<(), MessageError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(MessageError::BadNumber { field, value })
    }
}
