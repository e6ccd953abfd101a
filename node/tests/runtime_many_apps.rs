//! One host runs 200 small single-instance apps, each on its own network with its own
//! subnet from the app pool, created by two runtimes (two daemons sharing one engine, as on
//! a testnet) at once; and a pool that is full refuses the next app with an error naming
//! `docker.app_subnet_pool`.
//!
//! Docker's default address pools give each network a /16 or /20 and run out after about
//! 31 networks per engine; a /24 per app from a /16 holds 256.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::*;
use fluxnode::runtime::subnet::SubnetPool;
use fluxnode::runtime::{AppPlan, ErrorKind, Runtime};
use fluxnode::store::Store;
use futures_util::stream::{self, StreamExt};

const APPS: usize = 200;
/// Starts in flight per runtime: enough to keep Docker busy on 2 cores without queueing
/// hundreds of requests behind its locks.
const CONCURRENCY: usize = 6;

/// A pool of this test's own, so concurrent tests using the default 172.23.0.0/16 on the
/// same engine are not starved. 10.223.0.0/16 is private and routed nowhere here.
fn pool(cidr: &str) -> SubnetPool {
    SubnetPool::new(cidr.parse().unwrap(), 24).unwrap()
}

fn plan(app: &str, image: &str) -> AppPlan {
    let mut c = component("main", image, &["sleep", "3600"]);
    c.cpu = 0.01;
    c.ram_mb = 16;
    AppPlan {
        app: app.into(),
        spec_hash: "h1".into(),
        components: vec![c],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn two_hundred_apps_each_on_its_own_subnet() {
    let image = base_image();
    if !image_present(&image) {
        docker_ok(&["pull", "-q", &image]);
    }
    let nodes = [unique("mana"), unique("manb")];
    let _cleanup: Vec<Cleanup> = nodes.iter().cloned().map(Cleanup).collect();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let runtimes: Vec<Runtime> = nodes
        .iter()
        .zip(&dirs)
        .map(|(n, d)| {
            let mut cfg = config(n);
            cfg.pull_policy = fluxnode::runtime::PullPolicy::IfNotPresent;
            cfg.subnet_pool = pool("10.223.0.0/16");
            Runtime::new(cfg, Store::open(d.path()).unwrap())
        })
        .collect();

    let t0 = Instant::now();
    let per_node = APPS / runtimes.len();
    let results = futures_util::future::join_all(runtimes.iter().enumerate().map(|(k, rt)| {
        let image = image.clone();
        let node = nodes[k].clone();
        async move {
            stream::iter(0..per_node)
                .map(|i| {
                    let rt = rt.clone();
                    let app = format!("{node}a{i}");
                    let plan = plan(&app, &image);
                    async move { (app.clone(), rt.start_app(plan).await) }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        }
    }))
    .await;
    let started = t0.elapsed();
    let mut apps = Vec::new();
    for (app, r) in results.into_iter().flatten() {
        r.unwrap_or_else(|e| panic!("{app}: {e}"));
        apps.push(app);
    }
    assert_eq!(apps.len(), APPS);
    eprintln!("{APPS} apps started in {started:?}");

    // Every app runs, on a network of its own, on a distinct /24 of the pool (one
    // `docker inspect` for all: 400 separate calls took longer than the starts).
    let inspect_all = |names: Vec<String>| -> Vec<serde_json::Value> {
        let mut args = vec!["inspect".to_string()];
        args.extend(names);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serde_json::from_str(&docker_ok(&args)).unwrap()
    };
    let containers = inspect_all(apps.iter().map(|a| format!("fluxmain_{a}")).collect());
    let networks = inspect_all(
        apps.iter()
            .map(|a| format!("fluxDockerNetwork_{a}"))
            .collect(),
    );
    assert_eq!((containers.len(), networks.len()), (APPS, APPS));
    let mut subnets = BTreeSet::new();
    for ((app, c), n) in apps.iter().zip(&containers).zip(&networks) {
        assert_eq!(c["State"]["Running"], true, "{app}");
        let net = format!("fluxDockerNetwork_{app}");
        assert_eq!(c["HostConfig"]["NetworkMode"].as_str(), Some(net.as_str()));
        assert_eq!(n["Name"].as_str(), Some(net.as_str()));
        let subnet = n["IPAM"]["Config"][0]["Subnet"]
            .as_str()
            .unwrap_or_else(|| panic!("{net} has no subnet: {n}"))
            .to_string();
        assert!(
            subnet.starts_with("10.223.") && subnet.ends_with(".0/24"),
            "{subnet}"
        );
        assert!(subnets.insert(subnet.clone()), "{subnet} used twice");
    }
    assert_eq!(subnets.len(), APPS);
    // Removed in two calls here; `Cleanup` (one call per object) is the fallback on failure.
    for node in &nodes {
        let (c, n, v) = leftovers(node);
        for (cmd, ids) in [
            (vec!["rm", "-f"], c),
            (vec!["network", "rm"], n),
            (vec!["volume", "rm", "-f"], v),
        ] {
            if !ids.is_empty() {
                let mut args = cmd.clone();
                args.extend(ids.iter().map(String::as_str));
                docker_ok(&args);
            }
        }
    }

    // A pool with room for two app networks: the third app is refused, naming the field.
    let small = tempfile::tempdir().unwrap();
    let node = unique("mans");
    let _small_cleanup = Cleanup(node.clone());
    let mut cfg = config(&node);
    cfg.pull_policy = fluxnode::runtime::PullPolicy::IfNotPresent;
    cfg.subnet_pool = pool("10.224.0.0/23");
    let rt = Runtime::new(cfg, Store::open(small.path()).unwrap());
    for i in 0..2 {
        rt.start_app(plan(&format!("{node}a{i}"), &image))
            .await
            .unwrap();
    }
    let err = rt
        .start_app(plan(&format!("{node}a2"), &image))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SubnetsExhausted);
    assert!(err.is_placement_failure());
    let text = err.to_string();
    assert!(text.contains("docker.app_subnet_pool"), "{text}");
    assert!(text.contains("10.224.0.0/23"), "{text}");
    let (_, networks, _) = leftovers(&node);
    assert_eq!(networks.len(), 2, "the refused app left no network");

    // Removing an app frees its subnet for the next one.
    rt.remove_app(&format!("{node}a0")).await.unwrap();
    rt.start_app(plan(&format!("{node}a3"), &image))
        .await
        .unwrap();
    let reused = inspect(&format!("fluxDockerNetwork_{node}a3"));
    assert_eq!(
        reused["IPAM"]["Config"][0]["Subnet"].as_str(),
        Some("10.224.0.0/24"),
        "lowest free subnet again"
    );
}
