//! Multi-process test clusters: real `fluxnode run` daemons on their own loopback
//! addresses, a shared Docker engine and the local registry, driven through the CLI.
//!
//! Every Docker object the daemons create carries `io.fluxnode.test=1` and a per-cluster
//! `io.fluxnode.testrun` label, and every name a per-node suffix, so clusters never collide
//! and `Drop` removes exactly what the cluster made.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_fluxnode");

pub struct NodeProc {
    pub ip: String,
    pub api: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
    args: Vec<String>,
}

impl NodeProc {
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// Starts (or restarts) the daemon with the same arguments.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(&self.args)
            .env("RUST_LOG", "info,fluxnode=debug,libp2p=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Sets `flag` to `value` in the daemon's arguments (replacing its value if present).
    pub fn set_flag(&mut self, flag: &str, value: &str) {
        match self.args.iter().position(|a| a == flag) {
            Some(i) => self.args[i + 1] = value.to_string(),
            None => {
                self.args.push(flag.to_string());
                self.args.push(value.to_string());
            }
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        let out = Command::new("curl")
            .args([
                "-sf",
                "--max-time",
                "5",
                &format!("{}{path}", self.api_url()),
            ])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// GET `path` whatever the status (a 503 from `/readyz` carries its reasons): the
    /// status code and the JSON body.
    pub fn get_status(&self, path: &str) -> Option<(u16, serde_json::Value)> {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
            .arg(format!("{}{path}", self.api_url()))
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (body, code) = text.trim_end().rsplit_once('\n')?;
        Some((code.parse().ok()?, serde_json::from_str(body).ok()?))
    }

    pub fn get_text(&self, path: &str) -> Option<String> {
        let out = Command::new("curl")
            .args([
                "-sf",
                "--max-time",
                "5",
                &format!("{}{path}", self.api_url()),
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub struct Cluster {
    pub nodes: Vec<NodeProc>,
    /// The loopback base: node `i` is 127.0.0.{base+1+i}.
    pub base: u8,
    pub run_label: String,
    pub owner_key: PathBuf,
    /// The logs were printed already (a timeout dumps them before it panics).
    dumped: std::cell::Cell<bool>,
    _tmp: tempfile::TempDir,
}

/// Geos the nodes take in turn: distinct continents so spread is visible.
pub const GEOS: [&str; 5] = ["EU_DE_HE", "NA_US_CA", "AS_JP_13", "EU_FR_IDF", "OC_AU_NSW"];

impl Cluster {
    /// `n` daemons on 127.0.0.{base+1}…, node 1 the bootstrap peer of the others.
    pub fn start(n: usize, base: u8, extra: &[&str]) -> Cluster {
        Self::start_with(n, base, |_| extra.iter().map(|s| s.to_string()).collect())
    }

    /// As [`Cluster::start`], with extra arguments per node (by index).
    pub fn start_with(n: usize, base: u8, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        let mut c = Cluster::prepare_with(n, base, extra);
        for node in &mut c.nodes {
            node.spawn();
        }
        c
    }

    /// As [`Cluster::start`], but no daemon is started yet: change a node's flags with
    /// [`NodeProc::set_flag`], then [`NodeProc::spawn`] each.
    pub fn prepare(n: usize, base: u8, extra: &[&str]) -> Cluster {
        Self::prepare_with(n, base, |_| extra.iter().map(|s| s.to_string()).collect())
    }

    /// As [`Cluster::start_with`], without starting the daemons.
    pub fn prepare_with(n: usize, base: u8, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let run_label = format!(
            "{}-{base}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        let owner_key = tmp.path().join("owner.key");
        let ok = Command::new(BIN)
            .args(["key", "generate", "--out"])
            .arg(&owner_key)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{ok:?}");
        let mut nodes = Vec::new();
        // Distinct p2p ports as well as addresses: libp2p's TCP port reuse binds outgoing
        // connections to 0.0.0.0:<listen port>, which clashes with another process
        // listening on the same port at another loopback address.
        let p2p_port = |i: usize| p2p_port(base, i);
        let boot = format!("/ip4/127.0.0.{}/tcp/{}", base + 1, p2p_port(0));
        for i in 0..n {
            let ip = format!("127.0.0.{}", base as usize + 1 + i);
            let dir = tmp.path().join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            let api = format!("{ip}:16127");
            let mut args: Vec<String> = vec![
                "run".into(),
                "--data-dir".into(),
                dir.display().to_string(),
                "--key-file".into(),
                dir.join("node.key").display().to_string(),
                "--geo".into(),
                GEOS[i % GEOS.len()].into(),
                "--advertise-addr".into(),
                ip.clone(),
                "--listen".into(),
                format!("/ip4/{ip}/tcp/{}", p2p_port(i)),
                "--api-listen".into(),
                api.clone(),
                "--tier-profile".into(),
                "testnet".into(),
                "--bench-quick".into(),
                "true".into(),
                "--mdns".into(),
                "false".into(),
                "--docker-label".into(),
                format!("io.fluxnode.test=1,io.fluxnode.testrun={run_label}"),
                "--docker-name-suffix".into(),
                format!("_t{base}n{}", i + 1),
                // The test registry is on loopback, which a node refuses unless listed.
                "--docker-loopback-registry".into(),
                std::env::var("FLUXNODE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into()),
            ];
            if i > 0 {
                args.push("--bootstrap".into());
                args.push(boot.clone());
            }
            args.extend(extra(i));
            nodes.push(NodeProc {
                ip,
                api,
                dir,
                child: None,
                args,
            });
        }
        Cluster {
            nodes,
            base,
            run_label,
            owner_key,
            dumped: Default::default(),
            _tmp: tmp,
        }
    }

    /// Registers the spec `text`, written to `file` in the cluster's directory, through
    /// node `i`'s CLI with the cluster's owner key; panics with the CLI's output if refused.
    pub fn register(&self, i: usize, file: &str, text: &str) {
        let path = write(self.owner_key.parent().unwrap(), file, text);
        let key = self.owner_key.to_str().unwrap();
        let out = self.cli(
            i,
            &["app", "register", path.to_str().unwrap(), "--key", key],
        );
        assert!(out.status.success(), "register failed: {out:?}");
    }

    /// The value of `sample` in node `i`'s metrics: a name (its first series) or a name
    /// with labels, exactly; 0 when absent.
    pub fn metric(&self, i: usize, sample: &str) -> f64 {
        let text = self.nodes[i].get_text("/metrics").unwrap_or_default();
        text.lines()
            .find(|l| {
                l.strip_prefix(sample)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Node `i`'s p2p (libp2p TCP) port.
    pub fn p2p_port(&self, i: usize) -> u16 {
        p2p_port(self.base, i)
    }

    /// Waits until every node answers /readyz and sees `n - 1` peers.
    pub fn wait_ready(&self, timeout: Duration) {
        let want = self.nodes.len() - 1;
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self.nodes.iter().all(|n| {
                n.get("/api/v1/node")
                    .is_some_and(|v| v["peers"].as_u64() >= Some(want as u64))
            });
            if ready {
                return;
            }
            if Instant::now() > deadline {
                self.dump();
                panic!("cluster not ready within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Prints each daemon's log tail; with `FLUXNODE_TEST_LOG_DIR` set, also copies each
    /// whole log there (a failure's tail is often not enough to tell which step stalled).
    pub fn dump(&self) {
        self.dumped.set(true);
        let keep = std::env::var_os("FLUXNODE_TEST_LOG_DIR").map(PathBuf::from);
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(dir) = &keep {
                let to = dir.join(format!("{}-node{}.log", self.run_label, i + 1));
                let _ = std::fs::create_dir_all(dir);
                let _ = std::fs::copy(n.dir.join("daemon.log"), &to);
                eprintln!("node {} log kept at {}", i + 1, to.display());
            }
            eprintln!(
                "---- node {} ({}) log tail ----\n{}",
                i + 1,
                n.ip,
                n.log_tail()
            );
        }
    }

    /// Runs the CLI against node `i`'s API.
    pub fn cli(&self, i: usize, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args).args(["--api", &self.nodes[i].api_url()]);
        cmd.output().unwrap()
    }

    /// Running containers of this cluster for `app`, as `(name, id)`.
    pub fn containers(&self, app: &str) -> Vec<(String, String)> {
        let out = Command::new("docker")
            .args([
                "ps",
                "--filter",
                &format!("label=io.fluxnode.testrun={}", self.run_label),
                "--filter",
                &format!("label=io.fluxnode.app={app}"),
                "--format",
                "{{.Names}} {{.ID}}",
            ])
            .output()
            .unwrap();
        let mut v: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    /// Polls `f` until it returns `Some`, or panics with the cluster's logs.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                // Said before the logs as well: a long dump can hide the panic message.
                eprintln!("timed out after {timeout:?} waiting for {what}");
                self.dump();
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A failed assertion shows the daemons' side too (CI keeps only what is printed).
        if std::thread::panicking() && !self.dumped.get() {
            self.dump();
        }
        for n in &mut self.nodes {
            n.kill9();
        }
        let filter = format!("label=io.fluxnode.testrun={}", self.run_label);
        for (kind, list) in [
            ("container", vec!["ps", "-aq", "--filter", &filter]),
            ("network", vec!["network", "ls", "-q", "--filter", &filter]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &filter]),
        ] {
            let out = Command::new("docker").args(&list).output().unwrap();
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let mut rm: Vec<&str> = match kind {
                "container" => vec!["rm", "-f", "-v"],
                "network" => vec!["network", "rm"],
                _ => vec!["volume", "rm", "-f"],
            };
            rm.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&rm).output();
        }
        // Fixed-size volumes: the killed daemons leave their images attached; detach the
        // loop devices of every image under this cluster's directory before it goes.
        for dev in loop_devices_under(self._tmp.path()) {
            let _ = Command::new("losetup").args(["-d", &dev]).output();
        }
    }
}

/// Loop devices whose backing file is under `dir`.
pub fn loop_devices_under(dir: &Path) -> Vec<String> {
    let root = dir.display().to_string();
    let Ok(out) = Command::new("losetup")
        .args(["-n", "-l", "-O", "NAME,BACK-FILE"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (dev, file) = l.trim().split_once(char::is_whitespace)?;
            file.trim().starts_with(&root).then(|| dev.to_string())
        })
        .collect()
}

fn p2p_port(base: u8, i: usize) -> u16 {
    (20_000 + base as usize * 10 + i) as u16
}

/// A Flux v8 spec: `instances` copies of one busybox httpd component answering on
/// `port` (host) → 8080 (container), from the local registry.
pub fn web_spec(name: &str, instances: u32, port: u16, expire: u32) -> String {
    let registry =
        std::env::var("FLUXNODE_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    serde_json::json!({
        "version": 8,
        "name": name,
        "description": "fluxnode cluster test app",
        "owner": "0x0c894752ba986f3f6f081eeb05c1c4a482fe8717",
        "compose": [{
            "name": "web",
            "description": "busybox httpd",
            "repotag": format!("{registry}/fluxnode-test/busybox:latest"),
            "ports": [port],
            "domains": [""],
            "environmentParameters": [],
            "commands": ["httpd", "-f", "-p", "8080", "-h", "/"],
            "containerPorts": [8080],
            "containerData": "/data",
            "cpu": 0.1,
            "ram": 128,
            "hdd": 1,
            "repoauth": ""
        }],
        "instances": instances,
        "contacts": [],
        "geolocation": [],
        "expire": expire,
        "nodes": [],
        "staticip": false,
        "enterprise": ""
    })
    .to_string()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Whether something accepts TCP connections at `addr`.
pub fn answers(addr: &str) -> bool {
    addr.parse()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some()
}
