//! The CLI's API client commands, running the real `fluxnode` binary against the
//! in-memory backend of `api_common` served on 127.0.0.1.

mod api_common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use api_common::{NODE_ID, TestBackend, closed_port_url, fixture_path, owner, serve_in_thread};

fn fluxnode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .args(args)
        .env_remove("FLUXNODE_API")
        .env_remove("FLUXNODE_OWNER_KEY")
        .env_remove("FLUXNODE_CONFIG")
        .output()
        .expect("run fluxnode")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Writes the key of `owner(seed)` to `dir` with mode 0600 (as `key generate` does).
fn key_file(dir: &Path, seed: u8) -> PathBuf {
    let path = dir.join(format!("owner{seed}.key"));
    std::fs::write(&path, owner(seed).to_key_file()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn an_owner_registers_lists_shows_renews_locates_and_cancels_an_app() {
    let backend = TestBackend::default();
    backend.set_height(2_500_000);
    let api = serve_in_thread(backend.clone());
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path(), 1);
    let key = key.to_str().unwrap();
    let spec = fixture_path();
    let spec = spec.to_str().unwrap();

    let out = ok(&fluxnode(&[
        "app", "register", spec, "--key", key, "--api", &api,
    ]));
    assert_eq!(
        out.trim(),
        "registered Aave: 6 instances, expires at height 2588000 (removal at 2590640)"
    );
    let (stored_owner, height, blocks, cancelled) = backend.stored("Aave").unwrap();
    assert_eq!(stored_owner, owner(1).public().node_id());
    assert_eq!((height, blocks, cancelled), (2_500_000, 88_000, false));

    let out = ok(&fluxnode(&["app", "list", "--api", &api]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(lines[1].starts_with("Aave  1/6"), "{out}");
    assert!(
        lines[1].contains("2588000") && lines[1].contains("active"),
        "{out}"
    );

    let out = ok(&fluxnode(&["app", "--api", &api, "show", "Aave"]));
    assert!(out.contains("instances:   1 running of 6"), "{out}");
    assert!(out.contains(&format!("  {NODE_ID}")), "{out}");

    let out = ok(&fluxnode(&["app", "show", "Aave", "--json", "--api", &api]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["spec"]["name"], "Aave");

    backend.set_height(2_600_000);
    let out = ok(&fluxnode(&[
        "app", "renew", "Aave", "--blocks", "1000", "--key", key, "--api", &api,
    ]));
    assert_eq!(
        out.trim(),
        "renewed Aave: expires at height 2601000 (removal at 2603640)"
    );
    assert_eq!(backend.stored("Aave").unwrap().1, 2_600_000);

    let out = ok(&fluxnode(&["app", "locations", "Aave", "--api", &api]));
    assert_eq!(out, "127.0.0.1:33702\n");
    let out = ok(&fluxnode(&["app", "explain", "Aave", "--api", &api]));
    let row = out.lines().nth(2).unwrap_or_default();
    assert!(
        row.starts_with("1  …") && row.contains("EU_DE_HE") && row.contains("running"),
        "{out}"
    );
    assert!(
        row.ends_with("placed: picked in the continent pass"),
        "{out}"
    );
    let out = ok(&fluxnode(&[
        "app", "explain", "Aave", "--json", "--api", &api,
    ]));
    let raw: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(raw["running"][0], NODE_ID, "{out}");

    let out = ok(&fluxnode(&[
        "app", "cancel", "Aave", "--key", key, "--api", &api,
    ]));
    assert!(out.starts_with("cancelled Aave"), "{out}");
    assert!(backend.stored("Aave").unwrap().3);

    // No instance left: locations prints nothing and exits 1.
    let out = fluxnode(&["app", "locations", "Aave", "--api", &api]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("no running instance of Aave"));
}

#[test]
fn server_refusals_are_printed_with_their_reason_and_exit_2() {
    let backend = TestBackend::default();
    let api = serve_in_thread(backend.clone());
    let tmp = tempfile::tempdir().unwrap();
    let owner_key = key_file(tmp.path(), 1);
    let other_key = key_file(tmp.path(), 2);
    let spec = fixture_path();
    ok(&fluxnode(&[
        "app",
        "register",
        spec.to_str().unwrap(),
        "--key",
        owner_key.to_str().unwrap(),
        "--api",
        &api,
    ]));

    // Someone else's key: the backend refuses with 403.
    let out = fluxnode(&[
        "app",
        "renew",
        "Aave",
        "--blocks",
        "100",
        "--key",
        other_key.to_str().unwrap(),
        "--api",
        &api,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: app Aave belongs to"), "{err}");
    assert_eq!(backend.stored("Aave").unwrap().2, 88_000);

    let out = fluxnode(&["app", "show", "Nope", "--api", &api]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr).trim(), "error: app Nope not found");

    let out = fluxnode(&["app", "show", "bad_name", "--api", &api]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: field `name`: "));
}

#[test]
fn a_closed_port_gives_the_friendly_error_and_exit_2() {
    let url = closed_port_url();
    for args in [
        vec!["status", "--api", &url],
        vec!["peers", "--api", &url],
        vec!["app", "list", "--api", &url],
    ] {
        let out = fluxnode(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&out.stderr).trim(),
            format!(
                "error: cannot reach the fluxnode API at {url}: is the daemon running? (set --api or FLUXNODE_API)"
            )
        );
    }
    // The environment variable is the fallback for --api.
    let out = Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .args(["status"])
        .env("FLUXNODE_API", &url)
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains(&url));
}

#[test]
fn an_invalid_spec_is_refused_locally_naming_the_field() {
    let backend = TestBackend::default();
    let api = serve_in_thread(backend.clone());
    let tmp = tempfile::tempdir().unwrap();
    let key = key_file(tmp.path(), 1);
    let bad = tmp.path().join("bad.json");
    let spec = std::fs::read_to_string(fixture_path()).unwrap();
    std::fs::write(&bad, spec.replace("\"cpu\": 1,", "\"cpu\": \"lots\",")).unwrap();
    let out = fluxnode(&[
        "app",
        "register",
        bad.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--api",
        &api,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: compose[0].cpu: wrong-type-hw: ",
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was registered"), "{err}");
    assert!(backend.stored("Aave").is_none());
}

#[test]
fn status_and_peers_summaries() {
    let backend = TestBackend::default();
    backend.set_height(42);
    let api = serve_in_thread(backend);
    let out = ok(&fluxnode(&["status", "--api", &api]));
    assert!(out.contains(&format!("node:       {NODE_ID}")), "{out}");
    assert!(out.contains("height:     42"), "{out}");
    assert!(out.contains("uptime:     1h 2m 5s"), "{out}");
    assert!(
        out.contains("free  3.00 cpu, 14000 MB ram, 160 GB hdd"),
        "{out}"
    );
    let out = ok(&fluxnode(&["status", "--json", "--api", &api]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["height"], 42);

    let out = ok(&fluxnode(&["peers", "--api", &api]));
    assert!(
        out.lines().nth(1).unwrap().starts_with("12D3KooWPeer  1.5"),
        "{out}"
    );
}

/// A config file for `doctor`: everything on loopback port 0 (always free), Docker at a
/// socket that does not exist, and the given data dir.
fn doctor_config(dir: &Path, data_dir: &Path) -> PathBuf {
    doctor_config_listening(dir, data_dir, "127.0.0.1:0")
}

/// The same, with `api.listen` set: the daemon at that address is this host's own.
fn doctor_config_listening(dir: &Path, data_dir: &Path, api_listen: &str) -> PathBuf {
    let path = dir.join("fluxnode.toml");
    let text = format!(
        "[node]\ndata_dir = {:?}\n[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nsingle_node = true\n\
         [api]\nlisten = {api_listen:?}\n[docker]\nsocket = {:?}\n",
        data_dir.display().to_string(),
        dir.join("no-docker.sock").display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn doctor_fails_on_a_data_dir_that_cannot_be_written() {
    let tmp = tempfile::tempdir().unwrap();
    // Under a regular file: not creatable even for root, whom permission bits do not stop.
    let plain = tmp.path().join("plain-file");
    std::fs::write(&plain, b"x").unwrap();
    let data_dir = plain.join("data");
    let config = doctor_config(tmp.path(), &data_dir);
    // No daemon: the config's api.listen (port 0) answers nothing.
    let out = fluxnode(&["doctor", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  data dir"))
        .unwrap_or_else(|| panic!("no data dir failure in:\n{stdout}"));
    assert!(line.contains(&data_dir.display().to_string()), "{line}");
    assert!(line.contains(" — "), "{line}");
    assert!(
        stdout.contains("FAIL  docker    no Docker socket at"),
        "{stdout}"
    );
    assert!(stdout.contains("warn  daemon    not answering"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok    config    resolved from")),
        "{stdout}"
    );
}

#[test]
fn doctor_checks_a_running_daemon() {
    let api = serve_in_thread(TestBackend::default());
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let key = key_file(&data_dir, 5);
    std::fs::rename(&key, data_dir.join("node.key")).unwrap();
    // The daemon listens where this host's config says: it is this host's own daemon.
    let listen = api.trim_start_matches("http://");
    let config = doctor_config_listening(tmp.path(), &data_dir, listen);
    let out = fluxnode(&["doctor", "--config", config.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    for expected in [
        format!("ok    daemon    running at {api}: node {NODE_ID}"),
        format!("ok    data dir  {} is writable", data_dir.display()),
        "ok    ports     held by the running daemon".to_owned(),
        "ok    peers     1 connected".to_owned(),
        // The key is not the one the (test) daemon runs as.
        format!("warn  key       {}", data_dir.join("node.key").display()),
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&expected)),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // Only the missing Docker socket fails.
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 1, "{stdout}");
    assert_eq!(out.status.code(), Some(1));
    // The probe file is gone.
    assert_eq!(std::fs::read_dir(&data_dir).unwrap().count(), 1);
}

#[test]
fn doctor_checks_another_node_through_its_api_only() {
    let api = serve_in_thread(TestBackend::default());
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    // This host has a key of its own: it must not be compared with the other node's.
    let key = key_file(&data_dir, 5);
    std::fs::rename(&key, data_dir.join("node.key")).unwrap();
    let config = doctor_config(tmp.path(), &data_dir);
    let out = fluxnode(&[
        "doctor",
        "--config",
        config.to_str().unwrap(),
        "--api",
        &api,
    ]);
    let stdout = text(&out.stdout);
    for expected in [
        format!("ok    target    {api} (not this host's configured API)"),
        format!("ok    daemon    running at {api}: node {NODE_ID}"),
        "ok    ready     store: open".to_owned(),
        "warn  benchmark the node reports no benchmark".to_owned(),
        "ok    peers     1 connected".to_owned(),
        format!("ok    key       the node runs as {NODE_ID}"),
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&expected)),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // Nothing of this host: no config, Docker socket, data dir, ports, clock or key file.
    let whats: Vec<&str> = stdout.lines().map(|l| l[6..16].trim()).collect();
    assert_eq!(
        whats,
        ["target", "daemon", "ready", "benchmark", "peers", "key"],
        "{stdout}"
    );
    assert!(!stdout.contains("node.key"), "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");

    // The same through FLUXNODE_API, as the testnet's client wrapper sets it.
    let out = Command::new(env!("CARGO_BIN_EXE_fluxnode"))
        .args(["doctor", "--config", config.to_str().unwrap()])
        .env("FLUXNODE_API", &api)
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("ok    target"), "{out:?}");
}
