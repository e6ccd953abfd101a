//! Time from "start this app" to "all components running", fluxnode runtime versus plain
//! `docker run` of the same local image with the same limits and port bindings.
//!
//! Run: `cargo bench -p fluxnode --bench runtime_start` (needs the Docker engine and the
//! test image in the local registry, see scripts/lib/registry.sh). Environment:
//! `RUNS` (default 9), `FLUXNODE_TEST_REGISTRY` (default 127.0.0.1:5000).
//!
//! Every side uses an image already present locally; the runtime uses the `IfNotPresent`
//! pull policy so nobody contacts the registry. `docker run` is timed as a process (CLI
//! start-up included), the way an operator or a shell-out pays it. Three `docker run`
//! baselines, because the runtime does more than a plain run: it creates the app's own
//! bridge network and joins it (embedded DNS, so components reach each other by name).
//! - default bridge: the literal "plain docker run";
//! - network create + run on it: the same work as the runtime, through the CLI;
//! - run on a network that already exists: the floor for "reachable by name".
//!
//! Medians of RUNS rounds (after one warm-up round); the order of the sides rotates.

use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use fluxnode::runtime::{AppPlan, ComponentPlan, PullPolicy, Runtime, RuntimeConfig};
use fluxnode::store::Store;

fn docker(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let registry =
        std::env::var("FLUXNODE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    let image = format!("{registry}/fluxnode-test/busybox:latest");
    if !docker(&["image", "inspect", &image]) && !docker(&["pull", "-q", &image]) {
        eprintln!(
            "image {image} not available: start the local registry (scripts/lib/registry.sh)"
        );
        std::process::exit(2);
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = format!("bench{}", std::process::id());
    let mut cfg = RuntimeConfig::new(&node, "127.0.0.1");
    cfg.extra_labels = vec![("io.fluxnode.test".into(), "1".into())];
    cfg.pull_policy = PullPolicy::IfNotPresent;
    cfg.stop_timeout_s = 0;
    let runtime = Runtime::new(cfg, Store::open(dir.path()).expect("store"));

    let mut flux = Vec::new();
    let mut plain = Vec::new();
    let mut plain_net = Vec::new();
    let mut plain_existing = Vec::new();
    let prebuilt = format!("benchnetpre{}", std::process::id());
    assert!(docker(&[
        "network",
        "create",
        "--label",
        "io.fluxnode.test=1",
        &prebuilt
    ]));
    // One warm-up round of each, not counted (first network creation, page cache).
    for round in 0..=runs {
        let app = format!("bench{}r{round}", std::process::id());
        let port = free_port();
        let plan = AppPlan {
            app: app.clone(),
            spec_hash: "bench".into(),
            components: vec![ComponentPlan {
                name: "main".into(),
                repotag: image.clone(),
                repoauth: None,
                ports: vec![port],
                container_ports: vec![8080],
                env: vec![],
                commands: vec!["sleep".into(), "3600".into()],
                container_data: "/data".into(),
                cpu: 0.5,
                ram_mb: 64,
                hdd_gb: 1,
            }],
        };
        let name = format!("benchplain{}r{round}", std::process::id());
        let plain_port = free_port().to_string();
        let run_args = [
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "io.fluxnode.test=1",
            "--cpus",
            "0.5",
            "--memory",
            "64m",
            "-p",
            &format!("127.0.0.1:{plain_port}:8080/tcp"),
            "-p",
            &format!("127.0.0.1:{plain_port}:8080/udp"),
            &image,
            "sleep",
            "3600",
        ];
        let time_flux = || {
            let t = Instant::now();
            rt.block_on(runtime.start_app(plan.clone()))
                .expect("start_app");
            let f = t.elapsed();
            rt.block_on(runtime.remove_app(&app)).expect("remove_app");
            f
        };
        let time_plain = || {
            let t = Instant::now();
            assert!(docker(&run_args), "docker run failed");
            let p = t.elapsed();
            docker(&["rm", "-f", &name]);
            p
        };
        // The same work as the runtime's through the CLI: a network of its own first.
        let net = format!("benchnet{}r{round}", std::process::id());
        let mut net_args = run_args.to_vec();
        net_args.splice(2..2, ["--network", net.as_str()]);
        let time_plain_net = || {
            let t = Instant::now();
            assert!(docker(&[
                "network",
                "create",
                "--label",
                "io.fluxnode.test=1",
                &net
            ]));
            assert!(docker(&net_args), "docker run --network failed");
            let p = t.elapsed();
            docker(&["rm", "-f", &name]);
            docker(&["network", "rm", &net]);
            p
        };
        // The floor for "reachable by name": a run on a user-defined network that exists.
        let mut pre_args = run_args.to_vec();
        pre_args.splice(2..2, ["--network", prebuilt.as_str()]);
        let time_plain_prebuilt = || {
            let t = Instant::now();
            assert!(docker(&pre_args), "docker run --network (existing) failed");
            let p = t.elapsed();
            docker(&["rm", "-f", &name]);
            p
        };
        // Rotate which side goes first, so none always runs right after a removal.
        let (f, p, n, e) = match round % 3 {
            0 => {
                let f = time_flux();
                let p = time_plain();
                let n = time_plain_net();
                (f, p, n, time_plain_prebuilt())
            }
            1 => {
                let e = time_plain_prebuilt();
                let p = time_plain();
                let n = time_plain_net();
                (time_flux(), p, n, e)
            }
            _ => {
                let n = time_plain_net();
                let e = time_plain_prebuilt();
                let f = time_flux();
                (f, time_plain(), n, e)
            }
        };
        if round > 0 {
            flux.push(f);
            plain.push(p);
            plain_net.push(n);
            plain_existing.push(e);
        }
    }
    docker(&["network", "rm", &prebuilt]);
    let f = median(flux.clone());
    let paired: Vec<f64> = flux
        .iter()
        .zip(&plain)
        .map(|(f, p)| ms(*f) / ms(*p))
        .collect();
    let mut paired = paired;
    paired.sort_by(f64::total_cmp);
    println!("runtime_start: 1 component, local image, {runs} runs, medians in ms");
    println!(
        "  {:<58} {:>8.1}",
        "fluxnode start_app (network + volume + create + start)",
        ms(f)
    );
    let rows = [
        (
            "docker run -d, default bridge (same limits and ports)",
            &plain,
        ),
        (
            "docker network create + docker run -d --network",
            &plain_net,
        ),
        (
            "docker run -d --network, network already exists",
            &plain_existing,
        ),
    ];
    for (label, runs) in rows {
        let m = median(runs.clone());
        println!(
            "  {label:<58} {:>8.1}   fluxnode / this = {:.2}",
            ms(m),
            ms(f) / ms(m)
        );
    }
    println!(
        "  median of per-round ratios fluxnode / docker run (default bridge): {:.2}",
        paired[paired.len() / 2]
    );
    let round_ms = |v: &[Duration]| v.iter().map(|d| ms(*d).round()).collect::<Vec<_>>();
    println!("  all runs, fluxnode:   {:?}", round_ms(&flux));
    for (label, runs) in rows {
        println!("  all runs, {label}: {:?}", round_ms(runs));
    }
}
