//! The HTTP API server: axum routes over a [`Backend`].
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | 200 `ok` (the process answers; never touches the backend) |
//! | `GET /readyz` | 200 or 503, [`ReadyStatus`] |
//! | `GET /metrics` | Prometheus text |
//! | `GET /api/v1/node` | [`super::NodeStatus`] |
//! | `GET /api/v1/peers` | `[PeerStatus]` |
//! | `GET /api/v1/apps`, `POST /api/v1/apps` | `[AppStatus]`; 201 + `AppStatus` |
//! | `GET /api/v1/apps/{name}`, `DELETE` (signed cancel) | `AppStatus`; 204 |
//! | `POST /api/v1/apps/{name}/renew` | `AppStatus` |
//! | `POST /api/v1/apps/{name}/update` | `AppStatus` (the rollout runs after the answer) |
//! | `GET /api/v1/apps/{name}/locations`, `…/explain` | `[InstanceLocation]`; JSON |
//! | `GET /api/v1/locations[?wait=SECS]` | [`super::watch::LocationsSnapshot`], long poll |
//! | `GET /apps/…`, `/flux/…`, `/benchmark/…` | FluxOS-compatible reads ([`super::fluxos`]) |
//!
//! Every error is an [`super::ErrorBody`] JSON with the status of [`ApiError::status`].

use std::future::Future;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::message::{AppCancel, AppRegistration, AppRenewal, AppUpdate, OwnerSigned};
use proto::validate::{ValidationContext, validate_json};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::backend::Backend;
use super::error::{ApiError, error_response};
use super::extract::{AppName, JsonBody, MAX_BODY_BYTES};
use super::types::ReadyStatus;

/// Content type of an OpenMetrics exposition (it ends with `# EOF`).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The API's routes over `backend`, with the body limit, JSON 404/405 answers and a
/// debug-level request trace.
pub fn router<B: Backend>(backend: B) -> Router {
    let api = Router::new()
        .route("/node", get(node::<B>))
        .route("/peers", get(peers::<B>))
        .route("/apps", get(apps::<B>).post(register::<B>))
        .route("/apps/{name}", get(app::<B>).delete(cancel::<B>))
        .route("/apps/{name}/renew", post(renew::<B>))
        .route("/apps/{name}/update", post(update::<B>))
        .route("/apps/{name}/locations", get(locations::<B>))
        .route("/apps/{name}/explain", get(explain::<B>))
        .route("/locations", get(super::watch::locations::<B>));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<B>))
        .route("/metrics", get(metrics::<B>))
        .nest("/api/v1", api)
        .merge(super::fluxos::routes::<B>())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .with_state(backend)
}

/// Serves the API on `listener` until `shutdown` completes, then lets open requests finish.
/// Connections are bounded as [`super::listen`] describes.
pub async fn serve<B: Backend>(
    listener: tokio::net::TcpListener,
    backend: B,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    super::listen::serve(
        listener,
        router(backend),
        super::listen::Limits::for_this_process(),
        shutdown,
    )
    .await
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz<B: Backend>(State(b): State<B>) -> (StatusCode, Json<ReadyStatus>) {
    let status = b.ready().await;
    let code = if status.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(status))
}

async fn metrics<B: Backend>(State(b): State<B>) -> Response {
    let text = b.metrics().await;
    ([(header::CONTENT_TYPE, metrics_content_type(&text))], text).into_response()
}

/// OpenMetrics when the exposition says so (its mandatory `# EOF` last line), else the
/// Prometheus 0.0.4 text format that `crate::metrics::encode_text` writes.
pub fn metrics_content_type(text: &str) -> &'static str {
    if text.trim_end().ends_with("# EOF") {
        OPENMETRICS_CONTENT_TYPE
    } else {
        crate::metrics::TEXT_CONTENT_TYPE
    }
}

async fn node<B: Backend>(State(b): State<B>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.node().await?))
}

async fn peers<B: Backend>(State(b): State<B>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.peers().await?))
}

async fn apps<B: Backend>(State(b): State<B>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.apps().await?))
}

async fn app<B: Backend>(
    State(b): State<B>,
    AppName(name): AppName,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.app(name).await?))
}

/// 201 with the new app's status and its URL in `Location`.
async fn register<B: Backend>(
    State(b): State<B>,
    JsonBody(reg): JsonBody<OwnerSigned<AppRegistration>>,
) -> Result<Response, ApiError> {
    check_signature(&reg)?;
    // The Flux rules at proto's default height, the same the CLI checks with; the backend
    // may add its own (name taken, owner, capacity).
    let violations = validate_json(
        reg.action.spec_json.as_bytes(),
        &ValidationContext::default(),
    );
    if !violations.is_empty() {
        return Err(ApiError::invalid_spec("action.spec_json", &violations));
    }
    let status = b.register(reg).await?;
    let location = format!("/api/v1/apps/{}", status.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(status),
    )
        .into_response())
}

async fn renew<B: Backend>(
    State(b): State<B>,
    AppName(name): AppName,
    JsonBody(renewal): JsonBody<OwnerSigned<AppRenewal>>,
) -> Result<impl IntoResponse, ApiError> {
    check_same_app(&name, &renewal.action.app)?;
    check_signature(&renewal)?;
    Ok(Json(b.renew(name, renewal).await?))
}

async fn update<B: Backend>(
    State(b): State<B>,
    AppName(name): AppName,
    JsonBody(update): JsonBody<OwnerSigned<AppUpdate>>,
) -> Result<impl IntoResponse, ApiError> {
    check_signature(&update)?;
    let violations = validate_json(
        update.action.spec_json.as_bytes(),
        &ValidationContext::default(),
    );
    if !violations.is_empty() {
        return Err(ApiError::invalid_spec("action.spec_json", &violations));
    }
    let spec_name = serde_json::from_str::<serde_json::Value>(&update.action.spec_json)
        .ok()
        .and_then(|v| v.get("name")?.as_str().map(str::to_string))
        .unwrap_or_default();
    if !spec_name.eq_ignore_ascii_case(&name) {
        return Err(ApiError::bad_request(
            "action.spec_json.name",
            format!("the spec is for app {spec_name:?} but the URL names {name:?}"),
        ));
    }
    Ok(Json(b.update(name, update).await?))
}

/// 204 once the cancel is accepted.
async fn cancel<B: Backend>(
    State(b): State<B>,
    AppName(name): AppName,
    JsonBody(cancel): JsonBody<OwnerSigned<AppCancel>>,
) -> Result<StatusCode, ApiError> {
    check_same_app(&name, &cancel.action.app)?;
    check_signature(&cancel)?;
    b.cancel(name, cancel).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn locations<B: Backend>(
    State(b): State<B>,
    AppName(name): AppName,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.locations(name).await?))
}

async fn explain<B: Backend>(
    State(b): State<B>,
    AppName(name): AppName,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(b.explain(name).await?))
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; the API lives under /api/v1 (see the README's API reference)".to_owned(),
    )
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; the Allow header lists those it takes".to_owned(),
    )
}

/// A renew or cancel must name the app of its URL, or a signed action for one app could be
/// sent to another's URL and be logged or answered as that app.
fn check_same_app(path_name: &str, body_app: &str) -> Result<(), ApiError> {
    if path_name != body_app {
        return Err(ApiError::bad_request(
            "action.app",
            format!("the body is for app {body_app:?} but the URL names {path_name:?}"),
        ));
    }
    Ok(())
}

fn check_signature<A: proto::message::OwnerAction>(
    signed: &OwnerSigned<A>,
) -> Result<(), ApiError> {
    signed.verify().map_err(|e| ApiError::Forbidden {
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_content_type_follows_the_format() {
        assert_eq!(
            metrics_content_type("# TYPE a counter\na_total 1\n# EOF\n"),
            OPENMETRICS_CONTENT_TYPE
        );
        assert_eq!(
            metrics_content_type("# TYPE a_total counter\na_total 1\n"),
            crate::metrics::TEXT_CONTENT_TYPE
        );
    }

    #[test]
    fn encode_text_output_is_served_as_prometheus_text() {
        let mut registry = prometheus_client::registry::Registry::default();
        let _m = crate::metrics::Metrics::register(&mut registry);
        let text = crate::metrics::encode_text(&registry).unwrap();
        assert_eq!(
            metrics_content_type(&text),
            crate::metrics::TEXT_CONTENT_TYPE
        );
        let open = crate::metrics::encode_openmetrics(&registry).unwrap();
        assert_eq!(metrics_content_type(&open), OPENMETRICS_CONTENT_TYPE);
    }
}
