//! Request extractors that fail with an [`ApiError`] (JSON body naming the field) instead of
//! axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest request body accepted: 256 KiB. The largest body is a registration, whose spec
/// is a few KB even with 10 components (the gossip limit for the whole signed message is
/// 64 KiB), so this only stops abuse.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// App names in paths: what the Flux rules accept for any spec version (proto's
/// `validate`): ASCII letters and digits, plus inner hyphens from v8; at most 63
/// characters (v8; 32 before). No minimum: FluxOS sets none, and `Aave` is a real app.
pub const APP_NAME_MAX: usize = proto::validate::limits::NAME_MAX_V8;

/// Checks an app name from a URL path; the error names the field `name`.
pub fn validate_app_name(name: &str) -> Result<(), ApiError> {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    if name.is_empty() || name.len() > APP_NAME_MAX {
        return Err(ApiError::bad_request(
            "name",
            format!("an app name has 1 to {APP_NAME_MAX} characters"),
        ));
    }
    let well_formed = name.chars().all(|c| alnum(c) || c == '-')
        && name.starts_with(alnum)
        && name.ends_with(alnum);
    if !well_formed {
        return Err(ApiError::bad_request(
            "name",
            format!(
                "app name {name:?} may contain only a-z, A-Z, 0-9 and inner hyphens (Flux app name rules)"
            ),
        ));
    }
    Ok(())
}

/// The `{name}` path segment, validated with [`validate_app_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AppName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("name", e.body_text()))?;
        validate_app_name(&name)?;
        Ok(AppName(name))
    }
}

/// A JSON request body. Unlike `axum::Json` it does not insist on a `Content-Type`
/// (`curl -d` sends a form type): every body the API takes is owner-signed, so a
/// cross-site form post has nothing to forge.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit_bytes: MAX_BODY_BYTES,
                }
            } else {
                ApiError::bad_request("$", r.body_text())
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserializes `bytes`, naming the field at fault on error (`action.expire_blocks`,
/// `signature`, or `$` for the document itself).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        ApiError::bad_request(field_of(&path, &message), message)
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request("$", e.to_string()))?;
    Ok(value)
}

/// serde reports a missing field at the object that lacks it; name the field itself.
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "$".to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        action: Inner,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        app: String,
        blocks: Vec<u32>,
    }

    fn field(json: &str) -> String {
        match parse_json::<Outer>(json.as_bytes()) {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field(r#"{"action":{"app":"a","blocks":[1,"x"]}}"#),
            "action.blocks[1]"
        );
        assert_eq!(field(r#"{"action":{"app":7,"blocks":[]}}"#), "action.app");
        assert_eq!(field(r#"{"action":{"blocks":[]}}"#), "action.app");
        assert_eq!(field(r#"{}"#), "action");
        assert_eq!(field(r#"{"action":"#), "action");
        assert_eq!(field("nope"), "$");
        assert_eq!(field(r#"{"action":{"app":"a","blocks":[]}} x"#), "$");
        assert!(parse_json::<Outer>(br#"{"action":{"app":"a","blocks":[]}}"#).is_ok());
    }

    #[test]
    fn app_names_follow_the_flux_rules() {
        for ok in ["Aave", "a", "web-1", "x".repeat(63).as_str()] {
            assert!(validate_app_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-web",
            "web-",
            "a_b",
            "a.b",
            "ü",
            "x".repeat(64).as_str(),
        ] {
            assert!(
                matches!(validate_app_name(bad), Err(ApiError::BadRequest { ref field, .. }) if field == "name"),
                "{bad:?}"
            );
        }
    }
}
