//! Typed client of the node's HTTP API, used by the CLI.
//!
//! reqwest without TLS (the API is plain HTTP on loopback or the LAN): its client brings
//! connection reuse, timeouts and URL handling for a few small crates on top of the hyper
//! stack already in the tree.

use std::time::Duration;

use proto::message::{AppCancel, AppRegistration, AppRenewal, AppUpdate, OwnerSigned};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::{
    AppStatus, ErrorBody, ErrorDetail, InstanceLocation, NodeStatus, PeerStatus, ReadyStatus,
};

/// How long to wait for the TCP connection: the API is local or on the LAN, so seconds
/// mean it is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take; registering waits on the daemon's store fsync only.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "{url} is not a usable API URL: {message} (set --api or FLUXNODE_API, e.g. http://127.0.0.1:16127)"
    )]
    BadUrl { url: String, message: String },
    #[error(
        "cannot reach the fluxnode API at {url}: is the daemon running? (set --api or FLUXNODE_API)"
    )]
    Unreachable { url: String },
    #[error("the fluxnode API at {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    /// The server refused the request and said why.
    #[error("{detail}")]
    Api { status: u16, detail: ErrorDetail },
    /// An error status without the API's error body (a proxy, another program on the port).
    #[error("HTTP {status} from {url}: {body}")]
    Http {
        status: u16,
        url: String,
        body: String,
    },
    #[error("request to {url} failed: {message}")]
    Transport { url: String, message: String },
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
}

impl ClientError {
    /// The HTTP status the server answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client for one node's API, e.g. `http://127.0.0.1:16127`.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// The base URL as the user gave it, for messages.
    given: String,
    base: Url,
    http: reqwest::Client,
    request_timeout: Duration,
}

impl ApiClient {
    /// A client for the API at `base` (`http://host:port`, optionally with a path prefix).
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Self::with_timeouts(base, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// Like [`ApiClient::new`] with other timeouts (a health probe wants short ones).
    pub fn with_timeouts(
        base: &str,
        connect: Duration,
        request: Duration,
    ) -> Result<Self, ClientError> {
        let bad = |message: String| ClientError::BadUrl {
            url: base.to_owned(),
            message,
        };
        let mut url = Url::parse(base).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "http" {
            return Err(bad(format!(
                "scheme {:?} is not supported; the API is plain http",
                url.scheme()
            )));
        }
        if url.cannot_be_a_base() {
            return Err(bad("not a base URL".to_owned()));
        }
        // Paths are appended segment by segment; drop a trailing empty one.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            given: base.to_owned(),
            base: url,
            http,
            request_timeout: request,
        })
    }

    /// The API's base URL as given.
    pub fn base(&self) -> &str {
        self.base.as_str()
    }

    /// `GET /healthz`: whether the daemon answers at all.
    pub async fn healthz(&self) -> Result<(), ClientError> {
        self.send(Method::GET, &["healthz"], None::<&()>).await?;
        Ok(())
    }

    /// `GET /readyz`; a 503 is an answer here, not an error.
    pub async fn ready(&self) -> Result<ReadyStatus, ClientError> {
        let url = self.url(&["readyz"]);
        let resp = self.request(Method::GET, url.clone(), None::<&()>).await?;
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            return decode(&url, resp).await;
        }
        decode(&url, check(&url, resp).await?).await
    }

    /// `GET /metrics`, the exposition text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let url = self.url(&["metrics"]);
        let resp = self.send(Method::GET, &["metrics"], None::<&()>).await?;
        resp.text().await.map_err(|e| decode_error(&url, e))
    }

    pub async fn node(&self) -> Result<NodeStatus, ClientError> {
        self.get_json(&["api", "v1", "node"]).await
    }

    pub async fn peers(&self) -> Result<Vec<PeerStatus>, ClientError> {
        self.get_json(&["api", "v1", "peers"]).await
    }

    pub async fn apps(&self) -> Result<Vec<AppStatus>, ClientError> {
        self.get_json(&["api", "v1", "apps"]).await
    }

    pub async fn app(&self, name: &str) -> Result<AppStatus, ClientError> {
        self.get_json(&["api", "v1", "apps", name]).await
    }

    pub async fn register(
        &self,
        reg: &OwnerSigned<AppRegistration>,
    ) -> Result<AppStatus, ClientError> {
        self.send_json(Method::POST, &["api", "v1", "apps"], reg)
            .await
    }

    pub async fn renew(
        &self,
        name: &str,
        renewal: &OwnerSigned<AppRenewal>,
    ) -> Result<AppStatus, ClientError> {
        self.send_json(Method::POST, &["api", "v1", "apps", name, "renew"], renewal)
            .await
    }

    pub async fn update(
        &self,
        name: &str,
        update: &OwnerSigned<AppUpdate>,
    ) -> Result<AppStatus, ClientError> {
        self.send_json(Method::POST, &["api", "v1", "apps", name, "update"], update)
            .await
    }

    pub async fn cancel(
        &self,
        name: &str,
        cancel: &OwnerSigned<AppCancel>,
    ) -> Result<(), ClientError> {
        self.send(Method::DELETE, &["api", "v1", "apps", name], Some(cancel))
            .await?;
        Ok(())
    }

    pub async fn locations(&self, name: &str) -> Result<Vec<InstanceLocation>, ClientError> {
        self.get_json(&["api", "v1", "apps", name, "locations"])
            .await
    }

    pub async fn explain(&self, name: &str) -> Result<serde_json::Value, ClientError> {
        self.get_json(&["api", "v1", "apps", name, "explain"]).await
    }

    /// `base` plus `segments`, each percent-encoded (an app name typed by a user cannot
    /// reach another route).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    async fn get_json<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.send_json(Method::GET, segments, &()).await
    }

    async fn send_json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.url(segments);
        let body = (method != Method::GET).then_some(body);
        let resp = self.request(method, url.clone(), body).await?;
        decode(&url, check(&url, resp).await?).await
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = self.url(segments);
        let resp = self.request(method, url.clone(), body).await?;
        check(&url, resp).await
    }

    async fn request<B: Serialize>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self.http.request(method, url.clone());
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::Unreachable {
                    url: self.given.clone(),
                }
            } else if e.is_timeout() {
                ClientError::Timeout {
                    url: url.to_string(),
                    secs: self.request_timeout.as_secs(),
                }
            } else {
                ClientError::Transport {
                    url: url.to_string(),
                    message: error_chain(&e),
                }
            }
        })
    }
}

/// Passes a success through; turns an error status into [`ClientError::Api`] when the body
/// is the API's [`ErrorBody`], else [`ClientError::Http`].
async fn check(url: &Url, resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => Err(ClientError::Api {
            status: status.as_u16(),
            detail: body.error,
        }),
        Err(_) => Err(ClientError::Http {
            status: status.as_u16(),
            url: url.to_string(),
            body: text.chars().take(200).collect(),
        }),
    }
}

async fn decode<T: DeserializeOwned>(url: &Url, resp: reqwest::Response) -> Result<T, ClientError> {
    let bytes = resp.bytes().await.map_err(|e| decode_error(url, e))?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        url: url.to_string(),
        message: e.to_string(),
    })
}

fn decode_error(url: &Url, e: reqwest::Error) -> ClientError {
    ClientError::Decode {
        url: url.to_string(),
        message: error_chain(&e),
    }
}

/// reqwest's top-level message is generic ("error sending request"); the cause says more.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_each_segment() {
        let c = ApiClient::new("http://127.0.0.1:16127/").unwrap();
        assert_eq!(
            c.url(&["api", "v1", "apps", "a/b?c"]).as_str(),
            "http://127.0.0.1:16127/api/v1/apps/a%2Fb%3Fc"
        );
        let c = ApiClient::new("http://10.0.0.1:8080/prefix/").unwrap();
        assert_eq!(
            c.url(&["healthz"]).as_str(),
            "http://10.0.0.1:8080/prefix/healthz"
        );
    }

    #[test]
    fn only_plain_http_urls() {
        assert!(matches!(
            ApiClient::new("https://node:16127"),
            Err(ClientError::BadUrl { .. })
        ));
        assert!(matches!(
            ApiClient::new("127.0.0.1:16127"),
            Err(ClientError::BadUrl { .. })
        ));
    }
}
