//! Errors the API answers with. Each variant is one HTTP status; the body is always an
//! [`ErrorBody`] so a client can print the field at fault.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use proto::validate::Violation;

use super::types::{ErrorBody, ErrorDetail};

/// A failed API request, as the backend or the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or breaks a rule; `field` names the part at fault.
    #[error("{field}: {message}")]
    BadRequest { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// The request contradicts the current state (the app exists, was cancelled, …).
    #[error("{message}")]
    Conflict { message: String },
    /// The owner signature does not verify, or the signer is not the app's owner.
    #[error("{message}")]
    Forbidden { message: String },
    /// The node cannot serve this now (starting, stopping, Docker down); retry later.
    #[error("{message}")]
    Unavailable { message: String },
    #[error("{message}")]
    Internal { message: String },
    /// The request body is larger than the server accepts.
    #[error("request body is larger than the {limit_bytes}-byte limit")]
    PayloadTooLarge { limit_bytes: usize },
}

impl ApiError {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::NotFound { what: what.into() }
    }

    /// The 400 for a spec that breaks the Flux rules: the first violation's path is the
    /// field, and the message lists every violation (`path: rule: message`), so the owner
    /// fixes them all in one go. `prefix` is the spec's place in the request, if any
    /// (e.g. `action.spec_json`), joined to each path with `.`.
    pub fn invalid_spec(prefix: &str, violations: &[Violation]) -> Self {
        let join = |path: &str| match (prefix.is_empty(), path.is_empty() || path == "$") {
            (true, true) => "$".to_owned(),
            (true, false) => path.to_owned(),
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{path}"),
        };
        let field = violations
            .first()
            .map_or_else(|| join(""), |v| join(&v.path));
        let message = match violations {
            [] => "invalid app specification".to_owned(),
            [one] => format!("{}: {}", one.rule, one.message),
            many => {
                let list: Vec<String> = many
                    .iter()
                    .map(|v| format!("{}: {}: {}", join(&v.path), v.rule, v.message))
                    .collect();
                format!(
                    "invalid app specification ({} problems): {}",
                    many.len(),
                    list.join("; ")
                )
            }
        };
        ApiError::BadRequest { field, message }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The stable `code` of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::NotFound { .. } => "not_found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal { .. } => "internal",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
        }
    }

    pub fn detail(&self) -> ErrorDetail {
        let (field, message) = match self {
            ApiError::BadRequest { field, message } => (Some(field.clone()), message.clone()),
            other => (None, other.to_string()),
        };
        ErrorDetail {
            code: self.code().to_owned(),
            field,
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal { .. }) {
            tracing::warn!(error = %self, "API request failed");
        }
        let body = ErrorBody {
            error: self.detail(),
        };
        (self.status(), Json(body)).into_response()
    }
}

/// An error response that is not an [`ApiError`] (404 route, 405 method).
pub(crate) fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            field: None,
            message,
        },
    };
    (status, Json(body)).into_response()
}
