//! The runtime against the real Docker engine and the local registry.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use fluxnode::runtime::{AppPlan, ErrorKind, Runtime, RuntimeError};
use fluxnode::store::Store;

fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn two_components_talk_by_name_with_limits_ports_and_clean_removal() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let image = push_unique_image();
    assert!(!image_present(&image));

    let app = unique("app");
    let port = free_port();
    let greeting = unique("hello");
    let mut web = component(
        "web",
        &image,
        &[
            "sh",
            "-c",
            "mkdir -p /data/www && echo \"$GREETING\" > /data/www/index.html && exec httpd -f -p 80 -h /data/www",
        ],
    );
    web.env = vec![format!("GREETING={greeting}")];
    web.ports = vec![port];
    web.container_ports = vec![80];
    web.cpu = 0.5;
    web.ram_mb = 64;
    let mut client = component("client", &image, &["sleep", "3600"]);
    client.container_data = "/own|0:/shared".into();
    client.cpu = 0.25;
    client.ram_mb = 32;
    let plan = AppPlan {
        app: app.clone(),
        spec_hash: "h1".into(),
        components: vec![web, client],
    };

    let report = rt.start_app(plan).await.unwrap();
    assert_eq!(report.containers.len(), 2);
    assert_eq!(report.pulls.len(), 1, "one distinct image");
    assert!(report.pulls[0].pulled && report.pulls[0].duration > Duration::ZERO);
    assert!(image_present(&image), "the pull fetched the image");
    let web_name = format!("fluxweb_{app}");
    let client_name = format!("fluxclient_{app}");

    // Components reach each other by `flux{component}_{app}`.
    let url = format!("http://{web_name}:80/");
    let mut reply = String::new();
    eventually(
        "client reaches web by name",
        Duration::from_secs(20),
        || {
            let (ok, out) = docker(&["exec", &client_name, "wget", "-q", "-O", "-", &url]);
            reply = out;
            ok
        },
    )
    .await;
    assert_eq!(reply, greeting);
    // Component 1 sees component 0's data volume.
    let shared = docker_ok(&["exec", &client_name, "cat", "/shared/www/index.html"]);
    assert_eq!(shared, greeting);

    // The host port answers on the advertise address.
    let mut answer = None;
    eventually("host port answers", Duration::from_secs(20), || {
        answer = http_get(port);
        answer.as_deref().is_some_and(|a| a.contains("200"))
    })
    .await;
    assert!(answer.unwrap().contains(&greeting));

    // Limits, bindings, labels and the absence of any escalation, as Docker records them.
    for (name, nano, mem) in [
        (&web_name, 500_000_000i64, 64i64),
        (&client_name, 250_000_000, 32),
    ] {
        let i = inspect(name);
        let h = &i["HostConfig"];
        assert_eq!(h["NanoCpus"].as_i64(), Some(nano), "{name}");
        assert_eq!(h["Memory"].as_i64(), Some(mem * 1024 * 1024), "{name}");
        assert_eq!(h["Privileged"].as_bool(), Some(false));
        assert_eq!(
            h["NetworkMode"].as_str(),
            Some(format!("fluxDockerNetwork_{app}").as_str())
        );
        assert!(h["CapAdd"].is_null(), "{name}: {:?}", h["CapAdd"]);
        assert!(h["Binds"].is_null(), "{name}: {:?}", h["Binds"]);
        assert!(h["Devices"].as_array().is_none_or(|d| d.is_empty()));
        for m in i["Mounts"].as_array().unwrap() {
            assert_eq!(m["Type"].as_str(), Some("volume"), "{name}: {m}");
        }
        let labels = &i["Config"]["Labels"];
        assert_eq!(labels["io.fluxnode.app"].as_str(), Some(app.as_str()));
        assert_eq!(labels["io.fluxnode.node"].as_str(), Some(node.as_str()));
        assert_eq!(labels["io.fluxnode.spec-hash"].as_str(), Some("h1"));
        assert_eq!(labels["io.fluxnode.test"].as_str(), Some("1"));
        let aliases =
            &i["NetworkSettings"]["Networks"][format!("fluxDockerNetwork_{app}")]["Aliases"];
        assert!(
            aliases
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a.as_str() == Some(name.as_str()))
        );
    }
    let bindings = &inspect(&web_name)["HostConfig"]["PortBindings"];
    for proto in ["tcp", "udp"] {
        let b = &bindings[format!("80/{proto}")][0];
        assert_eq!(b["HostIp"].as_str(), Some("127.0.0.1"));
        assert_eq!(b["HostPort"].as_str(), Some(port.to_string().as_str()));
    }

    // Removal leaves no container, network or volume, and drops the now unused image.
    let removed = rt.remove_app(&app).await.unwrap();
    assert_eq!(removed.containers, 2);
    assert!(removed.network);
    assert_eq!(
        removed.volumes, 2,
        "web data (shared with client) and client data"
    );
    assert_eq!(removed.images, vec![image.clone()]);
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
    assert!(!docker(&["network", "inspect", &format!("fluxDockerNetwork_{app}")]).0);
    assert!(!image_present(&image));
    assert!(rt.managed_apps().is_empty());
    let c = rt.counters();
    assert_eq!(
        (
            c.apps_started,
            c.apps_removed,
            c.images_pulled,
            c.images_removed
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn missing_image_and_taken_port_are_typed_counted_and_leave_nothing() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let mut events = rt.subscribe();

    let missing = format!("{}/fluxnode-test/busybox:{}", registry(), unique("absent"));
    let plan = AppPlan {
        app: unique("app"),
        spec_hash: "h".into(),
        components: vec![component("main", &missing, &["sleep", "60"])],
    };
    let err = rt.start_app(plan).await.unwrap_err();
    assert!(matches!(err, RuntimeError::ImageNotFound { .. }), "{err}");
    assert!(err.is_placement_failure());
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
    let ev = events.recv().await.unwrap();
    assert!(
        matches!(
            ev,
            fluxnode::runtime::RuntimeEvent::AppFailed {
                kind: ErrorKind::ImageNotFound,
                placement_failure: true,
                ..
            }
        ),
        "{ev:?}"
    );

    // A host port held by someone else.
    let image = push_unique_image();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let mut c = component("main", &image, &["sleep", "60"]);
    c.ports = vec![taken];
    c.container_ports = vec![8080];
    let app = unique("app");
    let err = rt
        .start_app(AppPlan {
            app: app.clone(),
            spec_hash: "h".into(),
            components: vec![c],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::PortTaken { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("fluxmain_{app}")),
        "{err}"
    );
    assert_eq!(
        leftovers(&node),
        (vec![], vec![], vec![]),
        "a failed new app is rolled back"
    );
    assert!(rt.managed_apps().is_empty());

    let counters = rt.counters();
    assert_eq!(counters.errors_of(ErrorKind::ImageNotFound), 1);
    assert_eq!(counters.errors_of(ErrorKind::PortTaken), 1);
    assert_eq!(counters.apps_started, 0);
    drop(holder);
    docker(&["rmi", &image]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn crashed_container_restarts_with_backoff_and_is_counted() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&node);
    cfg.backoff.delays = vec![Duration::ZERO, Duration::from_secs(2)];
    let rt = Runtime::new(cfg, Store::open(dir.path()).unwrap());
    let image = push_unique_image();
    let app = unique("app");
    let plan = AppPlan {
        app: app.clone(),
        spec_hash: "h".into(),
        components: vec![component(
            "crash",
            &image,
            &["sh", "-c", "sleep 0.5; exit 3"],
        )],
    };
    rt.start_app(plan).await.unwrap();
    let name = format!("fluxcrash_{app}");
    let exited = || docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]) == "exited";

    // 1st crash: restarted at once.
    eventually("first crash", Duration::from_secs(20), exited).await;
    let r = rt.supervise_once().await.unwrap();
    assert_eq!(r.restarted, vec![(app.clone(), "crash".to_string())]);
    // 2nd crash: waits the 2 s backoff, then restarts.
    eventually("second crash", Duration::from_secs(20), exited).await;
    let r = rt.supervise_once().await.unwrap();
    assert!(r.restarted.is_empty());
    assert_eq!(r.waiting.len(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = rt.supervise_once().await.unwrap();
    assert_eq!(r.restarted.len(), 1);
    assert_eq!(rt.restart_counts(&app), vec![("crash".to_string(), 2)]);
    assert_eq!(rt.counters().container_restarts, 2);

    // A container removed behind the runtime's back is recreated under the same name.
    docker_ok(&["rm", "-f", &name]);
    let r = rt.supervise_once().await.unwrap();
    assert_eq!(
        r.waiting.len(),
        1,
        "third consecutive failure waits too: {r:?}"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = rt.supervise_once().await.unwrap();
    assert_eq!(r.restarted.len(), 1, "{r:?}");
    assert!(docker(&["inspect", &name]).0);

    rt.remove_app(&app).await.unwrap();
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn new_spec_hash_replaces_containers_and_keeps_data() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let image = push_unique_image();
    let app = unique("app");
    let v1 = AppPlan {
        app: app.clone(),
        spec_hash: "v1".into(),
        components: vec![
            component("main", &image, &["sleep", "3600"]),
            component("side", &image, &["sleep", "3600"]),
        ],
    };
    let first = rt.start_app(v1.clone()).await.unwrap();
    let main = format!("fluxmain_{app}");
    docker_ok(&["exec", &main, "sh", "-c", "echo kept > /data/marker"]);
    // Same plan again: nothing replaced.
    assert_eq!(rt.start_app(v1).await.unwrap().kept, 2);

    let mut v2_main = component("main", &image, &["sleep", "3601"]);
    v2_main.ram_mb = 48;
    let v2 = AppPlan {
        app: app.clone(),
        spec_hash: "v2".into(),
        components: vec![v2_main],
    };
    let second = rt.start_app(v2).await.unwrap();
    assert_eq!(second.kept, 0);
    assert_ne!(second.containers[0].id, first.containers[0].id);
    let i = inspect(&main);
    assert_eq!(i["HostConfig"]["Memory"].as_i64(), Some(48 * 1024 * 1024));
    assert_eq!(
        i["Config"]["Labels"]["io.fluxnode.spec-hash"].as_str(),
        Some("v2")
    );
    assert!(
        !docker(&["inspect", &format!("fluxside_{app}")]).0,
        "dropped component removed"
    );
    assert_eq!(docker_ok(&["exec", &main, "cat", "/data/marker"]), "kept");

    rt.remove_app(&app).await.unwrap();
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
}
