//! The probes behind `fluxnode doctor`'s checks: each looks at one thing on this host and
//! returns a verdict with a fix.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

use bollard::Docker;

use super::Check;
use crate::runtime::API_VERSION;

/// Connects to Docker at `socket` and asks for its version.
pub async fn docker(socket: &Path, timeout: Duration) -> Check {
    const WHAT: &str = "docker";
    let path = socket.to_string_lossy();
    let path = path.trim_start_matches("unix://");
    if !Path::new(path).exists() {
        return Check::fail(
            WHAT,
            format!("no Docker socket at {path}"),
            "install and start Docker Engine (`systemctl start docker`), or set docker.socket",
        );
    }
    let docker = match Docker::connect_with_unix(path, timeout.as_secs().max(1), &API_VERSION) {
        Ok(d) => d,
        Err(e) => return Check::fail(WHAT, format!("{path}: {e}"), "check docker.socket"),
    };
    match tokio::time::timeout(timeout, docker.version()).await {
        Ok(Ok(v)) => Check::ok(
            WHAT,
            format!(
                "Docker {} (API {}) at {path}",
                v.version.unwrap_or_default(),
                v.api_version.unwrap_or_default()
            ),
        ),
        Ok(Err(e)) => {
            let text = e.to_string();
            let fix = if text.contains("ermission denied") {
                "add the daemon's user to the `docker` group (the systemd unit does this)"
            } else {
                "start Docker (`systemctl start docker`) and check `docker info`"
            };
            Check::fail(WHAT, format!("{path}: {text}"), fix)
        }
        Err(_) => Check::fail(
            WHAT,
            format!("{path} did not answer within {} s", timeout.as_secs()),
            "Docker is hung or overloaded; check `systemctl status docker`",
        ),
    }
}

/// The data directory exists and takes a file, or can be created.
pub fn data_dir(dir: &Path) -> Check {
    const WHAT: &str = "data dir";
    let fix = format!(
        "create {} writable by the daemon's user, or set node.data_dir",
        dir.display()
    );
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Check::fail(WHAT, format!("{} is not a directory", dir.display()), fix);
        }
        Ok(_) => {
            return match probe_write(dir) {
                Ok(()) => Check::ok(WHAT, format!("{} is writable", dir.display())),
                Err(e) => Check::fail(WHAT, format!("{} is not writable: {e}", dir.display()), fix),
            };
        }
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Check::fail(WHAT, format!("{}: {e}", dir.display()), fix);
        }
        Err(_) => {}
    }
    // Missing: the daemon creates it, so the nearest existing ancestor must take it.
    let Some(parent) = dir.ancestors().skip(1).find(|a| a.exists()) else {
        return Check::fail(WHAT, format!("{} cannot be created", dir.display()), fix);
    };
    if !parent.is_dir() {
        return Check::fail(
            WHAT,
            format!(
                "{} cannot be created: {} is not a directory",
                dir.display(),
                parent.display()
            ),
            fix,
        );
    }
    let access = rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK;
    match rustix::fs::access(parent, access) {
        Ok(()) => Check::ok(
            WHAT,
            format!("{} does not exist yet; it will be created", dir.display()),
        ),
        Err(e) => Check::fail(
            WHAT,
            format!(
                "{} cannot be created: {} is not writable ({e})",
                dir.display(),
                parent.display()
            ),
            fix,
        ),
    }
}

/// Writes, syncs and removes a small file: the only test that also catches a read-only
/// mount or a full disk for a root user, whom permission bits do not stop.
fn probe_write(dir: &Path) -> io::Result<()> {
    let path = dir.join(format!(".fluxnode-doctor-{}", std::process::id()));
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| {
            f.write_all(b"fluxnode doctor write probe\n")?;
            f.sync_all()
        });
    let _ = std::fs::remove_file(&path);
    result
}

/// A TCP address the daemon will listen on is free.
pub fn tcp_port(what: &'static str, addr: SocketAddr, key: &str) -> Check {
    match TcpListener::bind(addr) {
        Ok(_) => Check::ok(what, format!("{addr} is free")),
        Err(e) => bind_failure(what, &addr.to_string(), &e, key),
    }
}

/// A libp2p listen multiaddr (`/ip4|ip6/ADDR/tcp|udp/PORT[/quic-v1]`) is free.
pub fn p2p_port(multiaddr: &str) -> Check {
    const WHAT: &str = "p2p port";
    let parts: Vec<&str> = multiaddr.split('/').collect();
    let parsed = match parts.as_slice() {
        ["", "ip4" | "ip6", ip, proto @ ("tcp" | "udp"), port, ..] => ip
            .parse()
            .ok()
            .zip(port.parse::<u16>().ok())
            .map(|(ip, port)| (SocketAddr::new(ip, port), *proto)),
        _ => None,
    };
    let Some((addr, proto)) = parsed else {
        return Check::warn(
            WHAT,
            format!("cannot check {multiaddr}"),
            "use /ip4/ADDR/tcp/PORT or /ip4/ADDR/udp/PORT/quic-v1 to have it checked",
        );
    };
    let bound = if proto == "tcp" {
        TcpListener::bind(addr).map(drop)
    } else {
        UdpSocket::bind(addr).map(drop)
    };
    match bound {
        Ok(()) => Check::ok(WHAT, format!("{multiaddr} is free")),
        Err(e) => bind_failure(WHAT, multiaddr, &e, "network.listen"),
    }
}

fn bind_failure(what: &'static str, addr: &str, e: &io::Error, key: &str) -> Check {
    let fix = match e.kind() {
        io::ErrorKind::AddrInUse => {
            format!("another program holds it (`ss -ltnup | grep PORT`); stop it or change {key}")
        }
        io::ErrorKind::AddrNotAvailable => {
            format!("that address is not on this host; change {key}")
        }
        io::ErrorKind::PermissionDenied => {
            format!("ports below 1024 need privileges; pick a higher one in {key}")
        }
        _ => format!("check {key}"),
    };
    Check::fail(what, format!("cannot listen on {addr}: {e}"), fix)
}

/// `timedatectl show -p NTPSynchronized --value`: `Some(yes?)`, or `None` when it cannot
/// tell (no systemd, no timedatectl, no answer in time).
pub async fn ntp_synchronized(timeout: Duration) -> Option<bool> {
    let output = tokio::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, output).await.ok()?.ok()?;
    if !output.status.success() {
        return None;
    }
    match String::from_utf8_lossy(&output.stdout).trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// App volumes can be made fixed-size here (loop devices, `losetup`, `mkfs.ext4`), or are
/// unbounded by configuration.
pub fn volumes(mode: crate::config::VolumeMode) -> Check {
    const WHAT: &str = "volumes";
    match mode {
        crate::config::VolumeMode::Unbounded => Check::warn(
            WHAT,
            "docker.volumes = \"unbounded\": apps' hdd is not enforced, one app may fill the disk",
            "set docker.volumes = \"loop\" on a host with loop devices",
        ),
        crate::config::VolumeMode::Loop => match crate::runtime::volume::loop_support() {
            Ok(()) => Check::ok(
                WHAT,
                "fixed-size: loop devices, losetup and mkfs.ext4 available",
            ),
            Err(reason) => Check::fail(
                WHAT,
                reason,
                "give the daemon loop devices (scripts/fluxnode.service), or set \
                 docker.volumes = \"unbounded\" knowing hdd is then not enforced",
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::doctor::Level;

    #[test]
    fn a_data_dir_under_a_file_fails_and_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        let dir = file.join("data");
        let c = data_dir(&dir);
        assert_eq!(c.level, Level::Fail, "{c}");
        assert!(c.detail.contains(&dir.display().to_string()), "{c}");

        assert_eq!(data_dir(tmp.path()).level, Level::Ok);
        assert_eq!(data_dir(&tmp.path().join("new/sub")).level, Level::Ok);
        assert_eq!(data_dir(&file).level, Level::Fail);
    }

    #[test]
    fn a_taken_port_fails() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let c = tcp_port("api port", addr, "api.listen");
        assert_eq!(c.level, Level::Fail, "{c}");
        assert!(c.fix.as_deref().unwrap().contains("api.listen"));
        let c = p2p_port(&format!("/ip4/127.0.0.1/tcp/{}", addr.port()));
        assert_eq!(c.level, Level::Fail, "{c}");
        drop(held);
        assert_eq!(p2p_port("/ip4/127.0.0.1/udp/0/quic-v1").level, Level::Ok);
        assert_eq!(p2p_port("/dns4/example.org/tcp/1").level, Level::Warn);
    }
}
