//! The benchmark's inventory honours container limits: the real binary, run by the real
//! Docker engine in a FROM-scratch image with `--cpus 1 --memory 512m`, must report 1 CPU
//! and 512 MiB — and, without limits, the host's figures (so the limited answer is not a
//! coincidence).
//!
//! The binary must be static to run in a scratch image. Set FLUXNODE_STATIC_BIN to a
//! binary built by `scripts/build-static.sh`; otherwise the test runs that script (a
//! release build in its own target dir, several minutes when cold).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

const LABEL: &str = "io.fluxnode.test=1";

fn static_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FLUXNODE_STATIC_BIN") {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-static.sh");
    let out = Command::new(&script)
        .output()
        .expect("run scripts/build-static.sh");
    assert!(
        out.status.success(),
        "scripts/build-static.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(
        path.lines()
            .last()
            .expect("build-static.sh printed no path")
            .trim(),
    )
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI is required for this test")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Removes the test's containers and image, also when an assertion fails.
struct Cleanup {
    image: String,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.containers {
            let _ = docker(&["rm", "-f", name]);
        }
        let _ = docker(&["rmi", "-f", &self.image]);
    }
}

/// Runs `fluxnode bench --inventory-only --json` in a new container and returns the
/// inventory.
fn inventory_in_container(cleanup: &mut Cleanup, name: String, limits: &[&str]) -> Value {
    cleanup.containers.push(name.clone());
    let mut args = vec!["run", "--name", &name, "--label", LABEL];
    args.extend_from_slice(limits);
    args.extend_from_slice(&[
        &cleanup.image,
        "bench",
        "--inventory-only",
        "--json",
        "--dir",
        "/",
    ]);
    let image = cleanup.image.clone();
    let stdout = ok(&docker(&args), &format!("docker run {image}"));
    let report: Value = serde_json::from_str(&stdout).expect("bench printed JSON");
    report["inventory"].clone()
}

#[test]
#[ignore = "full tier: needs Docker (scripts/test.sh runs it)"]
fn container_limits_are_reported() {
    let binary = static_binary();
    let unique = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, context.path().join("fluxnode")).expect("copy the static binary");
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY fluxnode /fluxnode\nENTRYPOINT [\"/fluxnode\"]\n",
    )
    .unwrap();
    let mut cleanup = Cleanup {
        image: format!("fluxnode-test/bench-cgroup:{unique}"),
        containers: Vec::new(),
    };
    let context_path = context.path().to_str().unwrap();
    ok(
        &docker(&[
            "build",
            "-q",
            "--label",
            LABEL,
            "-t",
            &cleanup.image,
            context_path,
        ]),
        "docker build",
    );

    let limited = inventory_in_container(
        &mut cleanup,
        format!("fluxnode-test-bench-limited-{unique}"),
        &["--cpus", "1", "--memory", "512m"],
    );
    assert_eq!(limited["cpus"].as_f64(), Some(1.0), "{limited:#}");
    assert_eq!(limited["logical_cores"].as_u64(), Some(1), "{limited:#}");
    assert_eq!(limited["physical_cores"].as_u64(), Some(1), "{limited:#}");
    assert_eq!(
        limited["ram_bytes"].as_u64(),
        Some(512 << 20),
        "{limited:#}"
    );
    assert_eq!(limited["cgroup"]["cpu_quota"].as_f64(), Some(1.0));
    assert_eq!(
        limited["cgroup"]["memory_limit_bytes"].as_u64(),
        Some(512 << 20)
    );
    let engine_cgroup = ok(
        &docker(&["info", "--format", "{{.CgroupVersion}}"]),
        "docker info",
    );
    let expected_source = format!("v{}", engine_cgroup.trim());
    assert_eq!(
        limited["cgroup"]["memory_source"].as_str(),
        Some(expected_source.as_str()),
        "{limited:#}"
    );
    assert!(limited["disk"]["total_bytes"].as_u64().unwrap() > 0);

    let unlimited = inventory_in_container(
        &mut cleanup,
        format!("fluxnode-test-bench-unlimited-{unique}"),
        &[],
    );
    let host_cpus = unlimited["host"]["logical_cpus"].as_f64().unwrap();
    assert_eq!(unlimited["cpus"].as_f64(), Some(host_cpus), "{unlimited:#}");
    assert_eq!(unlimited["ram_bytes"], unlimited["host"]["ram_bytes"]);
    assert!(unlimited["ram_bytes"].as_u64().unwrap() > 512 << 20);
    assert!(unlimited["cgroup"]["cpu_quota"].is_null(), "{unlimited:#}");
}
