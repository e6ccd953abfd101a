//! FluxOS's JSON shapes built from fluxnode's API types. Pure functions, so each emulated
//! field is tested here; the README's FluxOS table says where each comes from.

use std::time::{Duration, UNIX_EPOCH};

use scheduler::protocol::MEMBER_DEAD_AFTER;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::api::{AppStatus, InstanceLocation, NodeStatus};

/// FluxOS's dates (`broadcastedAt`, `expireAt`, `runningSince`) are MongoDB dates, which
/// JSON carries as RFC 3339 UTC with milliseconds.
pub fn iso_date(unix_ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(unix_ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// FluxOS's app `hash` identifies the spec message; here the SHA-256 of the registered
/// spec's JSON with sorted keys, so every node that holds the same spec shows the same hash.
pub fn spec_hash(spec: &Value) -> String {
    let canonical = serde_json::to_vec(spec).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

/// One FluxOS location row: `{name, hash, ip, broadcastedAt, expireAt, runningSince,
/// osUptime, staticIp}`.
pub fn location_row(app: &AppStatus, loc: &InstanceLocation) -> Value {
    json!({
        "name": app.name,
        "hash": spec_hash(&app.spec),
        "ip": loc.ip,
        "broadcastedAt": iso_date(loc.reported_at_ms),
        // A location leaves a node's view once its host has been silent this long
        // (FluxOS's own rows expire 125 min after their broadcast).
        "expireAt": iso_date(loc.reported_at_ms.saturating_add(MEMBER_DEAD_AFTER)),
        // fluxnode keeps only a host's latest running report, not when the instance
        // started, so the report time stands in.
        "runningSince": iso_date(loc.reported_at_ms),
        "osUptime": loc.host_uptime_secs,
        // Nodes do not declare a static address.
        "staticIp": false,
    })
}

/// FluxOS's global app specification: the spec as registered, plus `hash` and `height`
/// (the registration or last renewal) when the spec lacks them.
pub fn spec_document(app: &AppStatus) -> Value {
    let mut doc = match &app.spec {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    doc.entry("hash").or_insert(json!(spec_hash(&app.spec)));
    doc.entry("height").or_insert(json!(app.registered_height));
    Value::Object(doc)
}

/// `(container name, image)` of each component, FluxOS naming: `flux{component}_{app}`
/// for compose specs (v4+), `flux{app}` for the single-image specs of v1–v3.
pub fn containers(app: &AppStatus) -> Vec<(String, String)> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    match app.spec.get("compose").and_then(Value::as_array) {
        Some(components) => components
            .iter()
            .map(|c| {
                (
                    format!("flux{}_{}", text(c, "name"), app.name),
                    text(c, "repotag"),
                )
            })
            .collect(),
        None => vec![(format!("flux{}", app.name), text(&app.spec, "repotag"))],
    }
}

/// `/apps/listrunningapps`: FluxOS answers with Docker's container list of the node's
/// apps; here one entry per hosted component, with the fields its clients read.
pub fn running_apps(node: &NodeStatus, apps: &[AppStatus]) -> Value {
    let mut out = Vec::new();
    for hosted in &node.hosted {
        let Some(app) = apps.iter().find(|a| a.name == hosted.name) else {
            continue;
        };
        let (state, status) = if hosted.running {
            ("running", "Up")
        } else {
            ("exited", "Exited")
        };
        for (name, image) in containers(app) {
            out.push(json!({
                "Names": [format!("/{name}")],
                "Image": image,
                "State": state,
                "Status": status,
            }));
        }
    }
    Value::Array(out)
}

/// `/apps/installedapps`: the specs of the apps this node hosts.
pub fn installed_apps(node: &NodeStatus, apps: &[AppStatus]) -> Value {
    node.hosted
        .iter()
        .filter_map(|h| apps.iter().find(|a| a.name == h.name))
        .map(spec_document)
        .collect()
}

/// The IP part of the node's advertise address (a multiaddr or a bare address).
fn node_ip(node: &NodeStatus) -> String {
    crate::daemon::members::advertised_ip(&node.advertise_addr)
        .unwrap_or_else(|| node.advertise_addr.clone())
}

/// `/flux/geolocation`: FluxOS resolves the IP with a geo service; a fluxnode declares
/// `CONT_CC_REGION`, which gives the codes (no names, no coordinates).
pub fn geolocation(node: &NodeStatus) -> Value {
    let mut parts = node.geo.split('_');
    json!({
        "ip": node_ip(node),
        "continentCode": parts.next().unwrap_or(""),
        "countryCode": parts.next().unwrap_or(""),
        "region": parts.next().unwrap_or(""),
    })
}

/// `/benchmark/getbenchmarks`: FluxOS's benchmark fields from fluxnode's own benchmark
/// report (`fluxnode bench`), or from the offered capacity when none has run.
pub fn benchmarks(node: &NodeStatus) -> Value {
    let b = node.benchmark.as_ref();
    let num = |ptr: &str| b.and_then(|b| b.pointer(ptr)).and_then(Value::as_f64);
    let total = node.capacity.total;
    json!({
        "status": node.tier.to_uppercase(),
        "time": num("/measured_at_unix").unwrap_or(0.0) as u64,
        "ipaddress": node_ip(node),
        "cores": num("/inventory/logical_cores").unwrap_or(total.cpu),
        "real_cores": num("/inventory/physical_cores").unwrap_or(total.cpu),
        // FluxOS reports RAM and disk in GB.
        "ram": num("/inventory/ram_bytes").map_or(total.ram as f64 / 1_000.0, |b| b / 1e9),
        "ssd": total.hdd,
        "hdd": 0,
        "totalstorage": total.hdd,
        "ddwrite": num("/disk/write_mbs").unwrap_or(0.0),
        "eps": num("/cpu/eps").unwrap_or(0.0),
        "error": "",
    })
}

/// `/flux/info`: the parts of FluxOS's node summary fluxnode has.
pub fn info(node: &NodeStatus, apps: &[AppStatus]) -> Value {
    json!({
        "flux": { "version": node.version, "zelid": node.id },
        "node": {
            "id": node.id,
            "tier": node.tier.to_uppercase(),
            "ip": node_ip(node),
            "height": node.height,
            "peers": node.peers,
            "uptime": node.uptime_secs,
        },
        "geolocation": geolocation(node),
        "benchmark": benchmarks(node),
        "apps": { "runningapps": running_apps(node, apps) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CapacityStatus, HostedApp};
    use proto::tier::Resources;

    fn app(spec: Value) -> AppStatus {
        AppStatus {
            name: "Web".into(),
            owner: "o".into(),
            instances: 3,
            running: 1,
            registered_height: 42,
            expire_blocks: 100,
            expires_at_height: 142,
            removal_height: 2_782,
            cancelled: false,
            hosts: vec!["n".into()],
            spec,
            healthy: 1,
            instance_health: Vec::new(),
            version: 1,
            target_version: 1,
            rollout: None,
        }
    }

    fn node() -> NodeStatus {
        let total = Resources::new(4.0, 8_000, 200);
        NodeStatus {
            id: "n".into(),
            version: "0.1.0".into(),
            tier: "cumulus".into(),
            geo: "EU_DE_HE".into(),
            advertise_addr: "/ip4/10.1.2.3/tcp/16125".into(),
            height: 7,
            uptime_secs: 9,
            capacity: CapacityStatus {
                total,
                used: Resources::default(),
                reserved: Resources::default(),
                free: total,
            },
            benchmark: None,
            peers: 2,
            ledger: Default::default(),
            hosted: vec![HostedApp {
                name: "Web".into(),
                running: true,
            }],
        }
    }

    #[test]
    fn location_rows_have_fluxos_fields() {
        let a = app(json!({"name": "Web", "compose": []}));
        let loc = InstanceLocation {
            node: "n".into(),
            ip: "10.1.2.3".into(),
            ports: vec![80],
            addresses: vec!["10.1.2.3:80".into()],
            reported_at_ms: 1_700_000_000_000,
            host_uptime_secs: 60,
            health: proto::health::Health::Healthy,
        };
        let row = location_row(&a, &loc);
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
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
        assert_eq!(row["broadcastedAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(row["expireAt"], "2023-11-14T22:28:20.000Z");
        assert_eq!(row["hash"].as_str().unwrap().len(), 64);
        assert_eq!(row["osUptime"], 60);
    }

    #[test]
    fn containers_follow_fluxos_names() {
        let compose = app(json!({"compose": [{"name": "api", "repotag": "r/a:1"}]}));
        assert_eq!(
            containers(&compose),
            [("fluxapi_Web".to_owned(), "r/a:1".to_owned())]
        );
        let single = app(json!({"repotag": "r/w:2"}));
        assert_eq!(
            containers(&single),
            [("fluxWeb".to_owned(), "r/w:2".to_owned())]
        );
        let running = running_apps(&node(), &[compose]);
        assert_eq!(running[0]["Names"][0], "/fluxapi_Web");
        assert_eq!(running[0]["State"], "running");
    }

    #[test]
    fn node_shapes_use_declared_facts() {
        let g = geolocation(&node());
        assert_eq!(g["ip"], "10.1.2.3");
        assert_eq!(g["countryCode"], "DE");
        let b = benchmarks(&node());
        assert_eq!(b["status"], "CUMULUS");
        assert_eq!(b["cores"], 4.0);
        assert_eq!(b["ram"], 8.0);
        let doc = spec_document(&app(json!({"name": "Web"})));
        assert_eq!(doc["height"], 42);
        assert_eq!(doc["name"], "Web");
    }
}
