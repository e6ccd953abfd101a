//! FluxOS-compatible read API: FluxOS's paths, envelope and shapes on the node's API port,
//! so FluxOS clients (FDM, flux-mini-fdm, flux-apps-dns-manager, fluxstats) read a fluxnode
//! network with only their base URL changed. Read-only: owner actions stay fluxnode's own
//! signed `POST /api/v1/apps…` routes.
//!
//! | route | data |
//! |---|---|
//! | `GET /apps/location/{app}` | location rows of one app ([`shape::location_row`]) |
//! | `GET /apps/locations` | location rows of every app |
//! | `GET /apps/appspecifications/{app}` | the spec ([`shape::spec_document`]) |
//! | `GET /apps/globalappsspecifications` | every spec |
//! | `GET /apps/listrunningapps` | this node's app containers ([`shape::running_apps`]) |
//! | `GET /apps/installedapps` | specs of the apps this node hosts |
//! | `GET /flux/info`, `/flux/version`, `/flux/uptime`, `/flux/geolocation` | this node |
//! | `GET /benchmark/getbenchmarks` | this node's benchmark ([`shape::benchmarks`]) |
//!
//! Every answer is HTTP 200 with FluxOS's envelope, `Cache-Control: max-age` and an ETag
//! ([`answer`]); app names match case-insensitively, as FluxOS's do.

pub mod answer;
pub mod shape;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use self::answer::{FluxError, answer};
use super::backend::Backend;
use super::extract::validate_app_name;
use super::types::{AppStatus, InstanceLocation};

/// The FluxOS routes, to merge into the node's router.
pub fn routes<B: Backend>() -> Router<B> {
    Router::new()
        .route("/apps/location/{app}", get(location::<B>))
        .route("/apps/locations", get(locations::<B>))
        .route("/apps/appspecifications/{app}", get(specification::<B>))
        .route("/apps/globalappsspecifications", get(specifications::<B>))
        .route("/apps/listrunningapps", get(running_apps::<B>))
        .route("/apps/installedapps", get(installed_apps::<B>))
        .route("/flux/info", get(info::<B>))
        .route("/flux/version", get(version::<B>))
        .route("/flux/uptime", get(uptime::<B>))
        .route("/flux/geolocation", get(geolocation::<B>))
        .route("/benchmark/getbenchmarks", get(benchmarks::<B>))
}

/// The registered app called `name`, ignoring ASCII case (FluxOS matches `^name$` with
/// the `i` flag); an exact match wins if two names differ only in case.
pub fn resolve<'a>(apps: &'a [AppStatus], name: &str) -> Option<&'a AppStatus> {
    apps.iter()
        .find(|a| a.name == name)
        .or_else(|| apps.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
}

/// Every app with its current locations, in name order. An app removed between the two
/// calls is skipped.
pub async fn snapshot<B: Backend>(
    b: &B,
) -> Result<Vec<(AppStatus, Vec<InstanceLocation>)>, super::ApiError> {
    let apps = b.apps().await?;
    let mut out = Vec::with_capacity(apps.len());
    for app in apps {
        match b.locations(app.name.clone()).await {
            Ok(locs) => out.push((app, locs)),
            Err(super::ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(out)
}

fn checked_name(name: &str) -> Result<(), FluxError> {
    validate_app_name(name).map_err(|e| FluxError::bad_input(e.to_string()))
}

async fn location<B: Backend>(
    State(b): State<B>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        checked_name(&name)?;
        let apps = b.apps().await?;
        let app = resolve(&apps, &name).ok_or_else(|| FluxError::app_not_found(&name))?;
        let locs = b.locations(app.name.clone()).await?;
        Ok(locs.iter().map(|l| shape::location_row(app, l)).collect())
    }
    .await;
    answer(&headers, result)
}

async fn locations<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    let result = snapshot(&b).await.map_err(FluxError::from).map(|all| {
        all.iter()
            .flat_map(|(app, locs)| locs.iter().map(move |l| shape::location_row(app, l)))
            .collect()
    });
    answer(&headers, result)
}

async fn specification<B: Backend>(
    State(b): State<B>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        checked_name(&name)?;
        let apps = b.apps().await?;
        let app = resolve(&apps, &name).ok_or_else(|| FluxError::app_not_found(&name))?;
        Ok(shape::spec_document(app))
    }
    .await;
    answer(&headers, result)
}

async fn specifications<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    let result = b
        .apps()
        .await
        .map_err(FluxError::from)
        .map(|apps| apps.iter().map(shape::spec_document).collect());
    answer(&headers, result)
}

async fn running_apps<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    let result = async {
        let node = b.node().await?;
        let apps = b.apps().await?;
        Ok(shape::running_apps(&node, &apps))
    }
    .await;
    answer(&headers, result)
}

async fn installed_apps<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    let result = async {
        let node = b.node().await?;
        let apps = b.apps().await?;
        Ok(shape::installed_apps(&node, &apps))
    }
    .await;
    answer(&headers, result)
}

async fn info<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    let result = async {
        let node = b.node().await?;
        let apps = b.apps().await?;
        Ok(shape::info(&node, &apps))
    }
    .await;
    answer(&headers, result)
}

/// Answers with `f(node status)`.
async fn node_answer<B: Backend>(
    b: &B,
    headers: &HeaderMap,
    f: fn(&super::NodeStatus) -> Value,
) -> Response {
    let result = b.node().await.map_err(FluxError::from).map(|n| f(&n));
    answer(headers, result)
}

async fn version<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    node_answer(&b, &headers, |n| json!(n.version)).await
}

async fn uptime<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    node_answer(&b, &headers, |n| json!(n.uptime_secs)).await
}

async fn geolocation<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    node_answer(&b, &headers, shape::geolocation).await
}

async fn benchmarks<B: Backend>(State(b): State<B>, headers: HeaderMap) -> Response {
    node_answer(&b, &headers, shape::benchmarks).await
}
