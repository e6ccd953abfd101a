//! Time from "start this app" to "all components running", fluxnode runtime versus plain
//! `docker run` of the same local image with the same limits and port bindings.
//!
//! Run: `cargo bench -p fluxnode --bench runtime_start` (needs the Docker engine and the
//! test image in the local registry, see scripts/lib/registry.sh). Environment:
//! `RUNS` (default 9), `FLUXNODE_TEST_REGISTRY` (default 127.0.0.1:5000).
//!
//! Every side uses an image already present locally; the runtime uses the `IfNotPresent`
//! pull policy so nobody contacts the registry. `docker run` is timed as a process (CLI
//! start-up included), the way an operator or a shell-out pays it. Sides:
//! 1. fluxnode `prepare` + `start_app`, cold: everything a node does for an app it did
//!    not bid on (image check, the app's own bridge network, volume, create, start);
//! 2. fluxnode `start_app` after an untimed `prepare`: what an assignment costs a node
//!    that prepared when it bid (the prepared container started, plus a few inspects);
//! 3. `docker run -d` on the default bridge: the literal "plain docker run";
//! 4. `docker network create` + `docker run -d --network`: the runtime's cold work
//!    through the CLI (components reach each other by name only on their own network);
//! 5. `docker run -d --network` on a network that exists: the floor for side 2.
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

fn docker_owned(args: &[String]) -> bool {
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
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

/// Names and timings of one side.
struct Side {
    label: &'static str,
    runs: Vec<Duration>,
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
    let pid = std::process::id();
    let node = format!("bench{pid}");
    let mut cfg = RuntimeConfig::new(&node, "127.0.0.1");
    cfg.extra_labels = vec![("io.fluxnode.test".into(), "1".into())];
    cfg.pull_policy = PullPolicy::IfNotPresent;
    cfg.stop_timeout_s = 0;
    let runtime = Runtime::new(cfg, Store::open(dir.path()).expect("store"));

    let mut sides: Vec<Side> = [
        "fluxnode prepare + start_app, cold",
        "fluxnode start_app after prepare (assignment after a bid)",
        "docker run -d, default bridge (same limits and ports)",
        "docker network create + docker run -d --network",
        "docker run -d --network, network already exists",
    ]
    .into_iter()
    .map(|label| Side {
        label,
        runs: Vec::new(),
    })
    .collect();
    let prebuilt = format!("benchnetpre{pid}");
    assert!(docker(&[
        "network",
        "create",
        "--label",
        "io.fluxnode.test=1",
        &prebuilt
    ]));
    // One warm-up round of each, not counted (first network creation, page cache).
    for round in 0..=runs {
        let plan_for = |app: &str| AppPlan {
            app: app.to_owned(),
            spec_hash: "bench".into(),
            components: vec![ComponentPlan {
                name: "main".into(),
                repotag: image.clone(),
                repoauth: None,
                ports: vec![free_port()],
                container_ports: vec![8080],
                env: vec![],
                commands: vec!["sleep".into(), "3600".into()],
                container_data: "/data".into(),
                cpu: 0.5,
                ram_mb: 64,
                hdd_gb: 1,
            }],
        };
        let cold_plan = plan_for(&format!("bench{pid}r{round}c"));
        let warm_plan = plan_for(&format!("bench{pid}r{round}w"));
        let name = format!("benchplain{pid}r{round}");
        let plain_port = free_port().to_string();
        let tcp = format!("127.0.0.1:{plain_port}:8080/tcp");
        let udp = format!("127.0.0.1:{plain_port}:8080/udp");
        let run_args = |network: Option<&str>| -> Vec<String> {
            let mut a = vec!["run", "-d", "--name", &name];
            if let Some(n) = network {
                a.extend(["--network", n]);
            }
            a.extend([
                "--label",
                "io.fluxnode.test=1",
                "--cpus",
                "0.5",
                "--memory",
                "64m",
                "-p",
                &tcp,
                "-p",
                &udp,
                &image,
                "sleep",
                "3600",
            ]);
            a.into_iter().map(str::to_owned).collect()
        };
        let net = format!("benchnet{pid}r{round}");
        let time_cold = || {
            let t = Instant::now();
            rt.block_on(runtime.prepare(&cold_plan)).expect("prepare");
            rt.block_on(runtime.start_app(cold_plan.clone()))
                .expect("start_app");
            let f = t.elapsed();
            rt.block_on(runtime.remove_app(&cold_plan.app))
                .expect("remove_app");
            f
        };
        let time_after_prepare = || {
            rt.block_on(runtime.prepare(&warm_plan)).expect("prepare");
            let t = Instant::now();
            rt.block_on(runtime.start_app(warm_plan.clone()))
                .expect("start_app");
            let f = t.elapsed();
            rt.block_on(runtime.remove_app(&warm_plan.app))
                .expect("remove_app");
            f
        };
        let time_plain = || {
            let t = Instant::now();
            assert!(docker_owned(&run_args(None)), "docker run failed");
            let p = t.elapsed();
            docker(&["rm", "-f", &name]);
            p
        };
        let time_plain_net = || {
            let t = Instant::now();
            assert!(docker(&[
                "network",
                "create",
                "--label",
                "io.fluxnode.test=1",
                &net
            ]));
            assert!(
                docker_owned(&run_args(Some(&net))),
                "docker run --network failed"
            );
            let p = t.elapsed();
            docker(&["rm", "-f", &name]);
            docker(&["network", "rm", &net]);
            p
        };
        let time_plain_prebuilt = || {
            let t = Instant::now();
            assert!(
                docker_owned(&run_args(Some(&prebuilt))),
                "docker run --network (existing) failed"
            );
            let p = t.elapsed();
            docker(&["rm", "-f", &name]);
            p
        };
        let timers: [&dyn Fn() -> Duration; 5] = [
            &time_cold,
            &time_after_prepare,
            &time_plain,
            &time_plain_net,
            &time_plain_prebuilt,
        ];
        // Rotate which side goes first, so none always runs right after a removal.
        let mut measured = [Duration::ZERO; 5];
        for k in 0..timers.len() {
            let i = (round + k) % timers.len();
            measured[i] = timers[i]();
        }
        if round > 0 {
            for (side, d) in sides.iter_mut().zip(measured) {
                side.runs.push(d);
            }
        }
    }
    docker(&["network", "rm", &prebuilt]);

    let medians: Vec<Duration> = sides.iter().map(|s| median(s.runs.clone())).collect();
    println!("runtime_start: 1 component, local image, {runs} runs, medians in ms");
    for (side, m) in sides.iter().zip(&medians) {
        println!("  {:<60} {:>8.1}", side.label, ms(*m));
    }
    let ratio = |a: usize, b: usize| ms(medians[a]) / ms(medians[b]);
    println!("  ratios of medians:");
    println!(
        "    start_app after prepare / docker run -d            {:.2}",
        ratio(1, 2)
    );
    println!(
        "    start_app after prepare / run on existing network  {:.2}",
        ratio(1, 4)
    );
    println!(
        "    prepare + start_app / docker run -d                {:.2}",
        ratio(0, 2)
    );
    println!(
        "    prepare + start_app / network create + run         {:.2}",
        ratio(0, 3)
    );
    let mut paired: Vec<f64> = sides[1]
        .runs
        .iter()
        .zip(&sides[2].runs)
        .map(|(f, p)| ms(*f) / ms(*p))
        .collect();
    paired.sort_by(f64::total_cmp);
    println!(
        "  median of per-round ratios start_app after prepare / docker run -d: {:.2}",
        paired[paired.len() / 2]
    );
    for side in &sides {
        let all: Vec<f64> = side.runs.iter().map(|d| ms(*d).round()).collect();
        println!("  all runs, {}: {all:?}", side.label);
    }
}
