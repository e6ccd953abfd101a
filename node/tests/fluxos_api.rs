//! The FluxOS-compatible read API of real daemons (127.0.0.151–152) hosting a real app:
//! envelope and shapes, `Cache-Control: max-age`, ETag → 304, FluxOS-style errors,
//! case-insensitive names; then `fluxnode ingress` with the real HAProxy in front of it.

mod cluster;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use cluster::{BIN, Cluster, web_spec, write};

/// `(status line, headers lowercased, body)` of a GET with extra headers.
fn get(url: &str, headers: &[&str]) -> (String, Vec<(String, String)>, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "--max-time", "10"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A FluxOS route's `data`, after checking the envelope and the cache headers.
fn flux(base: &str, path: &str) -> serde_json::Value {
    let (status, headers, body) = get(&format!("{base}{path}"), &[]);
    assert!(status.contains(" 200"), "{path}: {status}");
    let cache = header(&headers, "cache-control").unwrap_or("");
    assert!(
        cache.starts_with("max-age=") && cache[8..].parse::<u32>().is_ok(),
        "{path}: Cache-Control {cache:?}"
    );
    assert!(header(&headers, "etag").is_some(), "{path}: no ETag");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{path}: {v}");
    v["data"].clone()
}

struct Ingress(Child);
impl Drop for Ingress {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "full tier: needs Docker, the local registry and HAProxy (scripts/test.sh runs it)"]
fn fluxos_routes_answer_like_fluxos_and_the_ingress_serves_the_app() {
    let c = Cluster::start(2, 150, &[]);
    c.wait_ready(Duration::from_secs(90));
    let dir = c.owner_key.parent().unwrap().to_owned();
    let spec = write(&dir, "app.json", &web_spec("IngressWeb", 2, 31550, 5_000));
    let out = c.cli(
        0,
        &[
            "app",
            "register",
            spec.to_str().unwrap(),
            "--key",
            c.owner_key.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "register failed: {out:?}");
    let base = c.nodes[0].api_url();

    // Lowercase name, registered as `IngressWeb`: FluxOS matches case-insensitively.
    let rows = c.wait_for("2 FluxOS location rows", Duration::from_secs(90), || {
        let d = flux(&base, "/apps/location/ingressweb");
        (d.as_array().map(Vec::len) == Some(2)).then_some(d)
    });
    let mut ips: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ip"].as_str().unwrap())
        .collect();
    ips.sort();
    assert_eq!(ips, ["127.0.0.151", "127.0.0.152"]);
    for row in rows.as_array().unwrap() {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "broadcastedAt",
                "expireAt",
                "hash",
                "ip",
                "name",
                "osUptime",
                "runningSince",
                "staticIp"
            ]
        );
        assert_eq!(row["name"], "IngressWeb");
        assert_eq!(row["hash"].as_str().unwrap().len(), 64);
        let at = humantime::parse_rfc3339(row["broadcastedAt"].as_str().unwrap()).unwrap();
        assert!(
            at.elapsed().unwrap_or_default() < Duration::from_secs(600),
            "{row}"
        );
        assert!(row["osUptime"].as_u64().is_some());
        assert_eq!(row["staticIp"], false);
    }
    let all = flux(&base, "/apps/locations");
    assert_eq!(all.as_array().unwrap().len(), 2);

    let spec = flux(&base, "/apps/appspecifications/INGRESSWEB");
    assert_eq!(spec["name"], "IngressWeb");
    assert_eq!(spec["compose"][0]["ports"][0], 31550);
    assert_eq!(spec["hash"], rows[0]["hash"]);
    let specs = flux(&base, "/apps/globalappsspecifications");
    assert_eq!(specs.as_array().unwrap().len(), 1);
    let running = flux(&base, "/apps/listrunningapps");
    assert_eq!(running[0]["Names"][0], "/fluxweb_IngressWeb", "{running}");
    assert_eq!(running[0]["State"], "running");
    assert_eq!(flux(&base, "/apps/installedapps")[0]["name"], "IngressWeb");
    assert!(flux(&base, "/flux/version").is_string());
    assert!(flux(&base, "/flux/uptime").is_u64());
    assert_eq!(flux(&base, "/flux/geolocation")["countryCode"], "DE");
    assert_eq!(
        flux(&base, "/flux/info")["geolocation"]["ip"],
        "127.0.0.151"
    );
    assert!(flux(&base, "/benchmark/getbenchmarks")["status"].is_string());

    // Unknown app: FluxOS's error envelope, still HTTP 200 with max-age.
    let (status, headers, body) = get(&format!("{base}/apps/location/nosuchapp"), &[]);
    assert!(status.contains(" 200"), "{status}");
    assert!(header(&headers, "cache-control").is_some());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["data"]["code"], 404);
    assert_eq!(v["data"]["name"], "Error");
    assert!(v["data"]["message"].as_str().unwrap().contains("nosuchapp"));
    let bad = flux_error(&base, "/apps/appspecifications/bad_name");
    assert_eq!(bad["code"], 400);

    // ETag → 304 with no body; another tag → 200.
    let (_, headers, _) = get(&format!("{base}/apps/globalappsspecifications"), &[]);
    let etag = header(&headers, "etag").unwrap().to_owned();
    let (status, headers, body) = get(
        &format!("{base}/apps/globalappsspecifications"),
        &[&format!("If-None-Match: {etag}")],
    );
    assert!(status.contains(" 304"), "{status}");
    assert!(body.is_empty());
    assert!(header(&headers, "cache-control").is_some());
    let (status, _, _) = get(
        &format!("{base}/apps/globalappsspecifications"),
        &["If-None-Match: \"other\""],
    );
    assert!(status.contains(" 200"), "{status}");

    // The long poll holds an unchanged answer for the wait, then 304. The instance's
    // health may still move (starting → healthy) and change the answer: a 200 then carries
    // the new tag, and the next poll on it must hold.
    let (_, headers, _) = get(&format!("{base}/api/v1/locations"), &[]);
    let mut etag = header(&headers, "etag").unwrap().to_owned();
    let mut held = None;
    for _ in 0..5 {
        let t0 = Instant::now();
        let (status, headers, _) = get(
            &format!("{base}/api/v1/locations?wait=2"),
            &[&format!("If-None-Match: {etag}")],
        );
        if status.contains(" 304") {
            held = Some(t0.elapsed());
            break;
        }
        assert!(status.contains(" 200"), "{status}");
        let next = header(&headers, "etag").unwrap().to_owned();
        assert_ne!(next, etag, "a 200 to If-None-Match must carry a new tag");
        etag = next;
    }
    let held = held.expect("the locations never stayed unchanged for a 2 s long poll");
    assert!(held >= Duration::from_millis(1_700), "{held:?}");

    // The ingress in front of the app.
    let idir = dir.join("ingress");
    let ingress = Ingress(
        Command::new(BIN)
            .args(["ingress", "--api", &base, "--listen", "127.0.0.151:18080"])
            .args([
                "--stats-listen",
                "none",
                "--metrics-listen",
                "127.0.0.151:19180",
            ])
            .arg("--dir")
            .arg(&idir)
            .spawn()
            .unwrap(),
    );
    let answer = c.wait_for(
        "the app behind the ingress",
        Duration::from_secs(30),
        || {
            let (status, headers, body) = get(
                "http://127.0.0.151:18080/",
                &["Host: ingressweb.app.localtest"],
            );
            // busybox httpd answers (its own status for `/`); HAProxy's 503 means no server yet.
            (!status.is_empty() && !status.contains(" 503")).then_some((status, headers, body))
        },
    );
    assert!(
        !answer.2.contains("no app by this name"),
        "routed to the 404 backend: {answer:?}"
    );
    assert!(
        header(&answer.1, "set-cookie").is_some_and(|c| c.starts_with("FDMSERVERID=")),
        "2 instances get the sticky cookie: {answer:?}"
    );
    let (status, _, body) = get("http://127.0.0.151:18080/", &["Host: other.app.localtest"]);
    assert!(status.contains(" 404") && body.contains("no app by this name"));
    let (_, _, metrics) = get("http://127.0.0.151:19180/metrics", &[]);
    assert!(
        metrics.contains("fluxnode_ingress_servers 2"),
        "ingress metrics: {metrics}"
    );
    drop(ingress);
}

fn flux_error(base: &str, path: &str) -> serde_json::Value {
    let (_, _, body) = get(&format!("{base}{path}"), &[]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error", "{path}: {v}");
    v["data"].clone()
}
