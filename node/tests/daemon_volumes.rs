//! `hdd` enforced on a real daemon: an app given 1 GB that writes 1.3 GB into its volume
//! gets "No space left on device" after at most 1 GiB, keeps running, and the node stays
//! ready; removal (a cancel; expiry and a lost bid go through the same `tear_down`) leaves
//! no image file and no loop device. Cluster base 180 (127.0.0.181).

mod cluster;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cluster::{Cluster, loop_devices_under, web_spec};

const GIB: u64 = 1 << 30;

/// A one-component app with `hdd: 1` that first tries to write 1,300 MiB into `/data`,
/// prints how it went, then serves HTTP (so "still running" is checkable from outside).
fn filler_spec(name: &str, port: u16, expire: u32) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&web_spec(name, 1, port, expire)).unwrap();
    v["compose"][0]["commands"] = serde_json::json!([
        "sh",
        "-c",
        "dd if=/dev/zero of=/data/fill bs=1M count=1300; echo \"dd-exit=$?\"; \
         echo \"fill-bytes=$(wc -c < /data/fill)\"; df -k /data | tail -1; \
         exec httpd -f -p 8080 -h /"
    ]);
    v.to_string()
}

fn logs(container: &str) -> String {
    let out = Command::new("docker")
        .args(["logs", container])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Image files (`*.img`) under `dir`, recursively.
fn images_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(".img") {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

fn docker_volumes(c: &Cluster, app: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=io.fluxnode.testrun={}", c.run_label),
            "--filter",
            &format!("label=io.fluxnode.app={app}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "full tier: needs Docker, loop devices, mkfs.ext4 and the local registry (scripts/test.sh runs it)"]
fn an_app_cannot_write_past_its_hdd_and_removal_leaves_no_loop_device() {
    let c = Cluster::start(1, 180, &["--single-node", "true"]);
    c.wait_ready(Duration::from_secs(90));
    let node = &c.nodes[0];
    let volumes_dir = node.dir.join("volumes");
    c.register(0, "quota.json", &filler_spec("quota", 31_801, 100_000));

    // The filler's write stops at the volume's size and the app goes on to serve.
    // (Docker's proxy accepts on the host port as soon as the container starts, so the
    // container's own output says when the write is over.)
    let out = c.wait_for(
        "the filler's write to end",
        Duration::from_secs(180),
        || {
            let v = c.containers("quota");
            let out = logs(&v.first()?.0);
            (out.contains("fill-bytes=") && out.contains("/data\n")).then_some(out)
        },
    );
    eprintln!("filler output:\n{out}");
    assert!(out.contains("No space left on device"), "{out}");
    assert!(!out.contains("dd-exit=0"), "dd succeeded: {out}");
    let written: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("fill-bytes="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no fill-bytes line: {out}"));
    eprintln!(
        "written before ENOSPC: {written} bytes ({:.3} GiB)",
        written as f64 / GIB as f64
    );
    assert!(written <= GIB, "{written} bytes written into a 1 GB volume");
    assert!(
        written > GIB * 9 / 10,
        "only {written} bytes fit: too much overhead"
    );
    // Still running, and serving.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(c.containers("quota").len(), 1);
    let page = std::process::Command::new("curl")
        .args(["-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}:31801/", node.ip))
        .output()
        .unwrap();
    // Any HTTP status (busybox httpd says 404 for `/` without an index) is an answer.
    let code = String::from_utf8_lossy(&page.stdout).to_string();
    assert!(
        code.len() == 3 && code != "000",
        "httpd does not answer: {page:?}"
    );

    // The image and its loop device exist while the app does; the node is ready.
    let images = images_under(&volumes_dir.join("quota"));
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(loop_devices_under(&volumes_dir.join("quota")).len(), 1);
    let ready = node.get("/readyz").expect("readyz answers");
    assert_eq!(ready["ready"], true, "{ready}");
    let vol = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "volumes")
        .cloned()
        .unwrap();
    assert!(
        vol["detail"].as_str().unwrap().contains("hdd enforced"),
        "{vol}"
    );
    // The host's disk holds what was written, not the full size of the volume.
    let used = Command::new("du")
        .args(["-sb", "--apparent-size"])
        .arg(&volumes_dir)
        .output()
        .unwrap();
    eprintln!(
        "volumes dir: {}",
        String::from_utf8_lossy(&used.stdout).trim()
    );

    // A cancel removes the app: its volume, image and loop device go.
    let key = c.owner_key.to_str().unwrap();
    let out = c.cli(0, &["app", "cancel", "quota", "--key", key]);
    assert!(out.status.success(), "cancel failed: {out:?}");
    c.wait_for("quota removed", Duration::from_secs(60), || {
        (c.containers("quota").is_empty()
            && docker_volumes(&c, "quota").is_empty()
            && !volumes_dir.join("quota").exists())
        .then_some(())
    });
    let left = loop_devices_under(&volumes_dir.join("quota"));
    assert!(left.is_empty(), "loop devices left: {left:?}");

    assert!(images_under(&volumes_dir).is_empty());
    let ready = node.get("/readyz").expect("readyz answers");
    assert_eq!(ready["ready"], true, "{ready}");
}
