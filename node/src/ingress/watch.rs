//! The ingress side of `GET /api/v1/locations`: a long poll with `If-None-Match`.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};

use super::IngressError;
use crate::api::watch::LocationsSnapshot;

/// How long each long poll asks the node to hold the answer, seconds: under the server's
/// 55 s cap, so a quiet network costs one request every 25 s.
const WAIT_SECS: u64 = 25;

/// Follows one node's locations.
#[derive(Debug, Clone)]
pub struct WatchClient {
    url: String,
    http: reqwest::Client,
}

impl WatchClient {
    pub fn new(api: &str) -> Result<Self, IngressError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(WAIT_SECS + 10))
            .build()
            .map_err(|e| IngressError::Api {
                url: api.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            url: format!("{}/api/v1/locations", api.trim_end_matches('/')),
            http,
        })
    }

    /// The current snapshot and its ETag, retrying until the node answers.
    pub async fn first(&self) -> Result<(LocationsSnapshot, String), IngressError> {
        loop {
            match self.next("").await {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "waiting for the node API"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The next snapshot after `etag`, or `None` when nothing changed within the wait.
    pub async fn next(
        &self,
        etag: &str,
    ) -> Result<Option<(LocationsSnapshot, String)>, IngressError> {
        let err = |message: String| IngressError::Api {
            url: self.url.clone(),
            message,
        };
        let mut req = self.http.get(&self.url);
        if !etag.is_empty() {
            req = req
                .header(IF_NONE_MATCH, etag)
                .query(&[("wait", WAIT_SECS)]);
        }
        let resp = req.send().await.map_err(|e| err(e.to_string()))?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(err(format!("HTTP {}", resp.status())));
        }
        let tag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let snap = resp
            .json::<LocationsSnapshot>()
            .await
            .map_err(|e| err(format!("not a locations snapshot: {e}")))?;
        Ok(Some((snap, tag)))
    }
}
