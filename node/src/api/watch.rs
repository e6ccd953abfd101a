//! `GET /api/v1/locations`: every app's ports and serving instances in one answer, with an
//! ETag, and a long poll: with `If-None-Match` naming the current ETag and `?wait=SECS`,
//! the answer waits until the locations change (or the wait ends, then 304). An ingress
//! follows a change within one check period instead of a polling interval.
//!
//! The ETag covers what a load balancer routes by (app, ports, instance addresses and any
//! per-instance state), not the report times, which move at every heartbeat.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::backend::Backend;
use super::error::ApiError;
use super::fluxos::answer::{cached_json, etag_of, not_modified};

/// The longest `wait` honoured, seconds: under common proxy and client idle timeouts (60 s).
pub const MAX_WAIT_SECS: u64 = 55;

/// How often a waiting request looks again. One look is one service-task round trip per
/// app; 250 ms keeps a change's delay far below the 2 s an ingress must meet.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationsSnapshot {
    /// Apps in name order.
    pub apps: Vec<AppLocations>,
}

/// One app: its published ports (spec order; the first is the app's main port) and where
/// it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppLocations {
    pub name: String,
    pub ports: Vec<u16>,
    pub instances: Vec<WatchedInstance>,
}

/// One instance: host and address, plus whatever per-instance fields the node adds (for
/// example a health state), passed through so a consumer can route by them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedInstance {
    pub node: String,
    pub ip: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl WatchedInstance {
    /// Whether the instance should take traffic: `health: unhealthy` (its host's probes
    /// failed), a `healthy: false` or a `state` other than running/healthy keeps it out;
    /// without any of them every live instance serves. A `starting` instance serves: the
    /// ingress's own checks keep traffic off it until it accepts connections.
    pub fn serving(&self) -> bool {
        let healthy = self.extra.get("healthy").and_then(Value::as_bool);
        let state = self.extra.get("state").and_then(Value::as_str);
        let health = self.extra.get("health").and_then(Value::as_str);
        healthy != Some(false)
            && health != Some("unhealthy")
            && state.is_none_or(|s| matches!(s, "running" | "healthy"))
    }
}

/// Fields left out of the watch answer: they change at every heartbeat without changing
/// where traffic goes, or repeat the app's own fields.
const VOLATILE: &[&str] = &["reported_at_ms", "host_uptime_secs", "ports", "addresses"];

/// The snapshot of every app on `b`.
pub async fn snapshot<B: Backend>(b: &B) -> Result<LocationsSnapshot, ApiError> {
    let all = super::fluxos::snapshot(b).await?;
    let apps = all
        .into_iter()
        .map(|(app, locs)| {
            let instances = locs
                .iter()
                .filter_map(|l| match serde_json::to_value(l) {
                    Ok(Value::Object(mut m)) => {
                        for k in VOLATILE {
                            m.remove(*k);
                        }
                        serde_json::from_value(Value::Object(m)).ok()
                    }
                    _ => None,
                })
                .collect();
            AppLocations {
                ports: spec_ports(&app.spec),
                name: app.name,
                instances,
            }
        })
        .collect();
    Ok(LocationsSnapshot { apps })
}

/// The host ports a Flux spec publishes, in order: `compose[*].ports` (v4+) or the
/// top-level `ports` (v1–v3); FluxOS writes them as numbers or numeric strings.
pub fn spec_ports(spec: &Value) -> Vec<u16> {
    let ports_of = |v: &Value| -> Vec<u16> {
        v.get("ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        p.as_u64()
                            .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
                            .and_then(|n| u16::try_from(n).ok())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    match spec.get("compose").and_then(Value::as_array) {
        Some(components) => components.iter().flat_map(ports_of).collect(),
        None => ports_of(spec),
    }
}

/// `wait=SECS` from a query string; a malformed query is a bad request naming `wait`.
pub fn wait_secs(query: Option<&str>) -> Result<u64, ApiError> {
    let mut wait = 0;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        if let Some(v) = pair.strip_prefix("wait=") {
            wait = v.parse().map_err(|_| {
                ApiError::bad_request("wait", format!("{v:?} is not a whole number of seconds"))
            })?;
        }
    }
    Ok(wait)
}

/// The handler.
pub async fn locations<B: Backend>(
    State(b): State<B>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let wait = match wait_secs(query.as_deref()) {
        Ok(w) => Duration::from_secs(w.min(MAX_WAIT_SECS)),
        Err(e) => return e.into_response(),
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let snap = match snapshot(&b).await {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        };
        let body = serde_json::to_value(&snap).unwrap_or(Value::Null);
        let unchanged = not_modified(
            &headers,
            &etag_of(&serde_json::to_vec(&body).unwrap_or_default()),
        );
        if !unchanged || tokio::time::Instant::now() + CHECK_EVERY > deadline {
            // max-age 0: a cache must not answer a long poll.
            return cached_json(&headers, &body, 0);
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wait_parses_or_names_the_field() {
        assert_eq!(wait_secs(None).unwrap(), 0);
        assert_eq!(wait_secs(Some("a=1&wait=25")).unwrap(), 25);
        assert!(
            matches!(wait_secs(Some("wait=x")), Err(ApiError::BadRequest { field, .. }) if field == "wait")
        );
    }

    #[test]
    fn ports_come_from_either_spec_form() {
        assert_eq!(
            spec_ports(&json!({"compose": [{"ports": [80, 81]}, {"ports": ["9000"]}]})),
            [80, 81, 9000]
        );
        assert_eq!(spec_ports(&json!({"ports": [31000]})), [31000]);
        assert!(spec_ports(&json!({})).is_empty());
    }

    #[test]
    fn health_fields_decide_serving() {
        let inst = |extra: Value| WatchedInstance {
            node: "n".into(),
            ip: "1.2.3.4".into(),
            extra: extra.as_object().cloned().unwrap_or_default(),
        };
        assert!(inst(json!({})).serving());
        assert!(inst(json!({"healthy": true, "state": "running"})).serving());
        assert!(!inst(json!({"healthy": false})).serving());
        assert!(!inst(json!({"state": "unhealthy"})).serving());
        assert!(!inst(json!({"health": "unhealthy"})).serving());
        assert!(inst(json!({"health": "starting"})).serving());
        assert!(inst(json!({"health": "healthy"})).serving());
    }
}
