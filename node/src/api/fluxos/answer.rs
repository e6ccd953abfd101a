//! FluxOS's answer conventions: the `{"status", "data"}` envelope (always HTTP 200, as
//! FluxOS does), `Cache-Control: max-age`, and a strong ETag so a poller that sends
//! `If-None-Match` gets a bodiless 304 while nothing changed.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `max-age` of every FluxOS-compatible answer, seconds. FDM refuses an answer without
/// one; it polls every 10 s, and locations here change within a heartbeat, so a short
/// age keeps a cache from hiding a change for longer than the ingress's 2 s goal.
pub const MAX_AGE_SECS: u32 = 2;

/// A FluxOS error: `{"status":"error","data":{"code","name","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxError {
    /// FluxOS puts an HTTP-like number here (404 unknown app, 400 bad input, 503 busy).
    pub code: u16,
    /// FluxOS copies a JavaScript error's `name`; `Error` for most.
    pub name: &'static str,
    pub message: String,
}

impl FluxError {
    /// FluxOS's wording for an app it does not know.
    pub fn app_not_found(name: &str) -> Self {
        FluxError {
            code: 404,
            name: "Error",
            message: format!("Application {name} not found"),
        }
    }

    pub fn bad_input(message: String) -> Self {
        FluxError {
            code: 400,
            name: "Error",
            message,
        }
    }
}

impl From<crate::api::ApiError> for FluxError {
    fn from(e: crate::api::ApiError) -> Self {
        FluxError {
            code: e.status().as_u16(),
            name: "Error",
            message: e.to_string(),
        }
    }
}

/// The envelope around `result`.
pub fn envelope(result: Result<Value, FluxError>) -> Value {
    match result {
        Ok(data) => json!({ "status": "success", "data": data }),
        Err(e) => json!({
            "status": "error",
            "data": { "code": e.code, "name": e.name, "message": e.message },
        }),
    }
}

/// Strong ETag of a body: the first 128 bits of its SHA-256, quoted.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` in `request` names `etag` (a list, or `*`).
pub fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
}

/// A JSON body with `Cache-Control: max-age=…` and its ETag; 304 without a body when the
/// request's `If-None-Match` already names it.
pub fn cached_json(request: &HeaderMap, body: &Value, max_age_secs: u32) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let etag = etag_of(&bytes);
    let cache = format!("max-age={max_age_secs}");
    let headers = [
        (header::CACHE_CONTROL, header_value(&cache)),
        (header::ETAG, header_value(&etag)),
    ];
    if not_modified(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        StatusCode::OK,
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// The FluxOS answer for `result`: envelope, cache headers, ETag.
pub fn answer(request: &HeaderMap, result: Result<Value, FluxError>) -> Response {
    cached_json(request, &envelope(result), MAX_AGE_SECS)
}

fn header_value(s: &str) -> HeaderValue {
    // Both values are ASCII built above (digits, hex, quotes).
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_follow_fluxos() {
        assert_eq!(
            envelope(Ok(json!([1]))),
            json!({"status": "success", "data": [1]})
        );
        assert_eq!(
            envelope(Err(FluxError::app_not_found("web"))),
            json!({"status": "error", "data": {"code": 404, "name": "Error",
                "message": "Application web not found"}})
        );
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let tag = etag_of(b"{}");
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, &tag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{tag}")).unwrap(),
        );
        assert!(not_modified(&h, &tag));
        assert!(!not_modified(&h, &etag_of(b"[]")));
    }
}
