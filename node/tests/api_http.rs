//! The HTTP API over a real TCP listener, with the in-memory backend of `api_common` and
//! real HTTP requests (reqwest, and the crate's own typed client).

mod api_common;

use api_common::{NODE_ID, TestBackend, fixture_spec, owner};
use fluxnode::api::client::{ApiClient, ClientError};
use fluxnode::api::{AppStatus, ErrorBody, NodeStatus, PeerStatus, ReadyStatus};
use proto::message::{AppCancel, AppRegistration, AppRenewal, OwnerSigned};
use reqwest::StatusCode;

struct Server {
    url: String,
    backend: TestBackend,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start() -> Server {
    let backend = TestBackend::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(fluxnode::api::serve(listener, backend.clone(), async {
        let _ = stopped.await;
    }));
    Server {
        url,
        backend,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task,
    }
}

impl Server {
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.at(path)).send().await.unwrap()
    }
    async fn send(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .request(method, self.at(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }
    async fn post_json<T: serde::Serialize>(&self, path: &str, body: &T) -> reqwest::Response {
        self.send(
            reqwest::Method::POST,
            path,
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }
    fn client(&self) -> ApiClient {
        ApiClient::new(&self.url).unwrap()
    }
}

fn registration(seed: u8, spec_json: String, height: u64) -> OwnerSigned<AppRegistration> {
    OwnerSigned::sign(
        &owner(seed),
        1_700_000_000_000,
        AppRegistration {
            spec_json,
            registered_height: height,
        },
    )
}

fn renewal(seed: u8, app: &str, height: u64, blocks: u32) -> OwnerSigned<AppRenewal> {
    OwnerSigned::sign(
        &owner(seed),
        1_700_000_000_001,
        AppRenewal {
            app: app.to_owned(),
            renewed_height: height,
            expire_blocks: blocks,
        },
    )
}

fn cancellation(seed: u8, app: &str) -> OwnerSigned<AppCancel> {
    OwnerSigned::sign(
        &owner(seed),
        1_700_000_000_002,
        AppCancel {
            app: app.to_owned(),
        },
    )
}

/// Asserts an error response: status, JSON body, code and (when given) field.
async fn assert_error(
    resp: reqwest::Response,
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) -> ErrorBody {
    assert_eq!(resp.status(), status);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let body: ErrorBody = resp.json().await.unwrap();
    assert_eq!(body.error.code, code, "{body:?}");
    if let Some(field) = field {
        assert_eq!(body.error.field.as_deref(), Some(field), "{body:?}");
    }
    body
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let s = start().await;
    let resp = s.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");

    let resp = s.get("/readyz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ready: ReadyStatus = resp.json().await.unwrap();
    assert!(ready.ready && ready.checks[0].ok);

    s.backend.set_ready(false);
    let resp = s.get("/readyz").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: ReadyStatus = resp.json().await.unwrap();
    assert!(!ready.ready);
    assert_eq!(ready.checks[0].detail, "opening");
    // The typed client reads a 503 readiness answer as an answer, not an error.
    assert!(!s.client().ready().await.unwrap().ready);
    // Liveness does not depend on readiness.
    assert_eq!(s.get("/healthz").await.status(), StatusCode::OK);

    let resp = s.get("/metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        fluxnode::metrics::TEXT_CONTENT_TYPE
    );
    let text = resp.text().await.unwrap();
    assert!(text.contains("\nfluxnode_peers 1\n"), "{text}");
    assert!(!text.contains("# EOF"));
}

#[tokio::test]
async fn node_and_peers() {
    let s = start().await;
    s.backend.set_height(1_234_567);
    let node: NodeStatus = s.get("/api/v1/node").await.json().await.unwrap();
    assert_eq!(node.id, NODE_ID);
    assert_eq!(node.height, 1_234_567);
    assert_eq!(node.capacity.total.ram, 14_000);
    let peers: Vec<PeerStatus> = s.get("/api/v1/peers").await.json().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].gossip_score, Some(1.5));
    assert_eq!(s.client().node().await.unwrap(), node);
}

#[tokio::test]
async fn an_app_is_registered_renewed_located_explained_and_cancelled() {
    let s = start().await;
    let reg = registration(1, fixture_spec(), 2_000_000);
    let resp = s.post_json("/api/v1/apps", &reg).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["location"], "/api/v1/apps/Aave");
    let status: AppStatus = resp.json().await.unwrap();
    assert_eq!(status.name, "Aave");
    assert_eq!(status.owner, owner(1).public().node_id());
    assert_eq!(status.instances, 6);
    assert_eq!(status.expires_at_height, 2_088_000);
    assert_eq!(status.removal_height, 2_088_000 + 2_640);
    assert_eq!(status.spec["compose"][0]["ports"][0], 33702);

    // The same name again is a conflict.
    let resp = s.post_json("/api/v1/apps", &reg).await;
    assert_error(resp, StatusCode::CONFLICT, "conflict", None).await;

    let apps: Vec<AppStatus> = s.get("/api/v1/apps").await.json().await.unwrap();
    assert_eq!(apps.len(), 1);
    let one: AppStatus = s.get("/api/v1/apps/Aave").await.json().await.unwrap();
    assert_eq!(one, status);

    let resp = s
        .post_json(
            "/api/v1/apps/Aave/renew",
            &renewal(1, "Aave", 2_100_000, 5_000),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let renewed: AppStatus = resp.json().await.unwrap();
    assert_eq!(renewed.expires_at_height, 2_105_000);
    assert_eq!(s.backend.stored("Aave").unwrap().1, 2_100_000);

    let locs: Vec<fluxnode::api::InstanceLocation> = s
        .get("/api/v1/apps/Aave/locations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(locs[0].addresses, ["127.0.0.1:33702"]);
    let explain: serde_json::Value = s
        .get("/api/v1/apps/Aave/explain")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(explain["app"], "Aave");

    let body = serde_json::to_vec(&cancellation(1, "Aave")).unwrap();
    let resp = s
        .send(reqwest::Method::DELETE, "/api/v1/apps/Aave", body.clone())
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(
        s.backend.stored("Aave").unwrap().3,
        "cancelled in the backend"
    );
    let resp = s
        .send(reqwest::Method::DELETE, "/api/v1/apps/Aave", body)
        .await;
    assert_error(resp, StatusCode::CONFLICT, "conflict", None).await;
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let s = start().await;
    // A valid JSON document just over the 256 KiB limit.
    let mut body = b"{\"pad\":\"".to_vec();
    body.resize(256 * 1024 + 1, b'a');
    body.extend_from_slice(b"\"}");
    let resp = s.send(reqwest::Method::POST, "/api/v1/apps", body).await;
    let err = assert_error(
        resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    )
    .await;
    assert!(err.error.message.contains("262144"), "{err:?}");
    // Without a Content-Length (chunked), the limit holds as the body streams in.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/apps HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
    for _ in 0..300 {
        // The server may answer and close before the whole body is sent.
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_field() {
    let s = start().await;
    let mut reg = serde_json::to_value(registration(1, fixture_spec(), 1)).unwrap();
    reg["signed_at_ms"] = "yesterday".into();
    let resp = s.post_json("/api/v1/apps", &reg).await;
    let err = assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("signed_at_ms"),
    )
    .await;
    assert!(err.error.message.contains("invalid type"), "{err:?}");

    let mut reg = serde_json::to_value(registration(1, fixture_spec(), 1)).unwrap();
    reg["action"]
        .as_object_mut()
        .unwrap()
        .remove("registered_height");
    let resp = s.post_json("/api/v1/apps", &reg).await;
    assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("action.registered_height"),
    )
    .await;

    let resp = s
        .send(
            reqwest::Method::POST,
            "/api/v1/apps",
            b"{\"owner\": ".to_vec(),
        )
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST, "bad_request", Some("owner")).await;
    let resp = s
        .send(reqwest::Method::POST, "/api/v1/apps", b"not json".to_vec())
        .await;
    assert_error(resp, StatusCode::BAD_REQUEST, "bad_request", Some("$")).await;

    // A well-formed registration whose spec breaks the Flux rules names the spec field.
    let spec = fixture_spec().replace("\"cpu\": 1,", "\"cpu\": \"lots\",");
    let resp = s.post_json("/api/v1/apps", &registration(1, spec, 1)).await;
    let err = assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("action.spec_json.compose[0].cpu"),
    )
    .await;
    assert!(err.error.message.contains("must be a number"), "{err:?}");
    assert!(s.backend.stored("Aave").is_none());
}

#[tokio::test]
async fn bad_names_and_mismatched_names_get_400() {
    let s = start().await;
    for path in [
        "/api/v1/apps/bad_name",
        "/api/v1/apps/-x",
        "/api/v1/apps/%C3%BC",
    ] {
        let resp = s.get(path).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "bad_request", Some("name")).await;
    }
    let long = "a".repeat(64);
    let resp = s.get(&format!("/api/v1/apps/{long}/locations")).await;
    assert_error(resp, StatusCode::BAD_REQUEST, "bad_request", Some("name")).await;

    s.post_json("/api/v1/apps", &registration(1, fixture_spec(), 1))
        .await;
    // A renewal signed for another app, sent to Aave's URL.
    let resp = s
        .post_json("/api/v1/apps/Aave/renew", &renewal(1, "Other", 5, 100))
        .await;
    assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("action.app"),
    )
    .await;
    let body = serde_json::to_vec(&cancellation(1, "Other")).unwrap();
    let resp = s
        .send(reqwest::Method::DELETE, "/api/v1/apps/Aave", body)
        .await;
    assert_error(
        resp,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("action.app"),
    )
    .await;
    assert!(!s.backend.stored("Aave").unwrap().3);
}

#[tokio::test]
async fn forged_or_foreign_signatures_get_403() {
    let s = start().await;
    let mut forged = registration(1, fixture_spec(), 10);
    forged.action.registered_height = 11; // edited after signing
    let resp = s.post_json("/api/v1/apps", &forged).await;
    assert_error(resp, StatusCode::FORBIDDEN, "forbidden", None).await;
    assert!(s.backend.stored("Aave").is_none());

    s.post_json("/api/v1/apps", &registration(1, fixture_spec(), 10))
        .await;
    // Validly signed, but by someone who does not own the app.
    let resp = s
        .post_json("/api/v1/apps/Aave/renew", &renewal(2, "Aave", 20, 100))
        .await;
    let err = assert_error(resp, StatusCode::FORBIDDEN, "forbidden", None).await;
    assert!(err.error.message.contains("belongs to"), "{err:?}");
    let body = serde_json::to_vec(&cancellation(2, "Aave")).unwrap();
    let resp = s
        .send(reqwest::Method::DELETE, "/api/v1/apps/Aave", body)
        .await;
    assert_error(resp, StatusCode::FORBIDDEN, "forbidden", None).await;
    assert_eq!(s.backend.stored("Aave").unwrap().1, 10);
    assert!(!s.backend.stored("Aave").unwrap().3);
}

#[tokio::test]
async fn unknown_apps_routes_and_methods_get_json_404_and_405() {
    let s = start().await;
    for path in [
        "/api/v1/apps/nope",
        "/api/v1/apps/nope/locations",
        "/api/v1/apps/nope/explain",
    ] {
        let err = assert_error(s.get(path).await, StatusCode::NOT_FOUND, "not_found", None).await;
        assert!(err.error.message.contains("nope"), "{err:?}");
    }
    let resp = s
        .post_json("/api/v1/apps/nope/renew", &renewal(1, "nope", 1, 1))
        .await;
    assert_error(resp, StatusCode::NOT_FOUND, "not_found", None).await;
    assert_error(
        s.get("/api/v2/node").await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(s.get("/").await, StatusCode::NOT_FOUND, "not_found", None).await;

    let resp = s
        .send(reqwest::Method::PUT, "/api/v1/apps", b"{}".to_vec())
        .await;
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_error(
        resp,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    )
    .await;
    let allow = allow.expect("405 carries Allow");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let resp = s.send(reqwest::Method::POST, "/api/v1/node", vec![]).await;
    assert_error(
        resp,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    )
    .await;
}

#[tokio::test]
async fn the_typed_client_carries_the_server_error_detail() {
    let s = start().await;
    let c = s.client();
    let status = c
        .register(&registration(3, fixture_spec(), 7))
        .await
        .unwrap();
    assert_eq!(status.registered_height, 7);
    let spec = fixture_spec().replace("\"cpu\": 1,", "\"cpu\": \"lots\",");
    match c.register(&registration(3, spec, 7)).await {
        Err(e @ ClientError::Api { status: 400, .. }) => {
            assert!(
                e.to_string()
                    .starts_with("field `action.spec_json.compose[0].cpu`: "),
                "{e}"
            );
        }
        other => panic!("expected a 400 with detail, got {other:?}"),
    }
    let renewed = c.renew("Aave", &renewal(3, "Aave", 9, 100)).await.unwrap();
    assert_eq!(renewed.expires_at_height, 109);
    assert!(matches!(
        c.renew("Aave", &renewal(4, "Aave", 9, 100)).await,
        Err(ClientError::Api { status: 403, .. })
    ));
    assert_eq!(c.apps().await.unwrap().len(), 1);
    assert_eq!(c.locations("Aave").await.unwrap()[0].ports, [33702]);
    assert_eq!(c.explain("Aave").await.unwrap()["app"], "Aave");
    assert!(c.metrics().await.unwrap().contains("fluxnode_peers"));
    c.healthz().await.unwrap();
    c.cancel("Aave", &cancellation(3, "Aave")).await.unwrap();
    assert!(c.app("Aave").await.unwrap().cancelled);
    // A name with a slash stays one path segment: a 400 for the name, not another route.
    assert!(matches!(
        c.app("a/b").await,
        Err(ClientError::Api { status: 400, .. })
    ));

    let closed = ApiClient::new(&api_common::closed_port_url()).unwrap();
    let err = closed.node().await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("is the daemon running?"), "{err}");
}

#[tokio::test]
async fn serve_returns_when_shutdown_completes() {
    let mut s = start().await;
    assert_eq!(s.get("/healthz").await.status(), StatusCode::OK);
    s.stop.take().unwrap().send(()).unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), &mut s.task)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
    assert!(result.is_ok());
    assert!(ApiClient::new(&s.url).unwrap().healthz().await.is_err());
}
