//! The API under 1,100 idle connections with a 1,024 descriptor limit: the daemon keeps
//! answering (new clients evict idle connections), stays below its descriptor limit, keeps
//! talking to Docker, and closes a connection that sends no request within the header
//! timeout. Daemon on 127.0.0.181 (cluster base 180).

mod cluster;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const IP: &str = "127.0.0.181";
const API: &str = "127.0.0.181:16127";

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on a fresh connection; the status code and body.
fn get(path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&API.parse().unwrap(), Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {API}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
#[ignore = "full tier: needs Docker and a running daemon (scripts/test.sh runs it)"]
fn idle_connections_do_not_stop_the_api_or_cut_off_docker() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_label = format!("{}-180-api", std::process::id());
    let child = Command::new("prlimit")
        .arg("--nofile=1024:1024")
        .arg("--")
        .arg(cluster::BIN)
        .args(["run", "--data-dir"])
        .arg(dir)
        .arg("--key-file")
        .arg(dir.join("node.key"))
        .args(["--geo", "EU_DE_HE", "--advertise-addr", IP])
        .args([
            "--listen",
            "/ip4/127.0.0.181/tcp/21800",
            "--api-listen",
            API,
        ])
        .args(["--tier-profile", "testnet", "--bench-quick", "true"])
        .args(["--mdns", "false", "--single-node", "true"])
        .arg("--docker-label")
        .arg(format!(
            "io.fluxnode.test=1,io.fluxnode.testrun={run_label}"
        ))
        .args(["--docker-name-suffix", "_t180n1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
        .spawn()
        .expect("prlimit (util-linux) and the fluxnode binary");
    let daemon = Daemon(child);
    let pid = daemon.0.id();
    let log = || std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(60);
    while get("/readyz").is_none_or(|(c, _)| c != 200) {
        assert!(Instant::now() < deadline, "daemon not ready:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(log().contains("max_connections=512"), "{}", log());

    // 1,100 idle connections: more than the daemon's whole descriptor limit allows.
    let mut idle = Vec::new();
    for _ in 0..1_100 {
        if let Ok(s) = TcpStream::connect_timeout(&API.parse().unwrap(), Duration::from_secs(2)) {
            idle.push(s);
        }
    }
    assert!(idle.len() >= 1_000, "only {} connected", idle.len());

    // The API answers new clients at once, over and over, while the idle ones are held.
    let t = Instant::now();
    for _ in 0..20 {
        let (code, body) = get("/readyz").expect("/readyz answers under the flood");
        assert_eq!(code, 200, "{body}");
    }
    eprintln!(
        "20 /readyz answered in {:?} under 1,100 idle connections",
        t.elapsed()
    );
    let fds = open_fds(pid);
    eprintln!("daemon holds {fds} descriptors (limit 1024)");
    assert!(fds < 1_000, "{fds} descriptors open");

    // Docker stays reachable: the watchdog pings the engine every 10 s and /readyz reports
    // that ping; no "Too many open files" anywhere.
    std::thread::sleep(Duration::from_secs(12));
    let (code, body) = get("/readyz").expect("/readyz answers");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let docker = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "docker")
        .unwrap()
        .clone();
    assert_eq!(docker["ok"], true, "{body}");
    assert!(!log().contains("Too many open files"), "{}", log());

    // A connection that sends nothing is closed by the server after the header timeout
    // (10 s); the 12 s above have passed for every idle connection still open.
    drop(idle);
    let mut quiet = TcpStream::connect(API).unwrap();
    quiet
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = quiet.read(&mut buf).unwrap_or(0);
    let waited = t.elapsed();
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"),
        "the server sent {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );
    eprintln!("silent connection closed after {waited:?}");
}
