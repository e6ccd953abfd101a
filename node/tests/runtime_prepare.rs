//! Preparing an app at bid time, starting it after, and unpreparing a lost bid, against
//! the real Docker engine and the local registry.

mod common;

use common::*;
use fluxnode::runtime::{AppPlan, ErrorKind, Runtime};
use fluxnode::store::Store;

fn plan(app: &str, images: &[&str]) -> AppPlan {
    AppPlan {
        app: app.into(),
        spec_hash: "h1".into(),
        components: images
            .iter()
            .enumerate()
            .map(|(i, img)| component(&format!("c{i}"), img, &["sleep", "3600"]))
            .collect(),
    }
}

fn network_exists(app: &str) -> bool {
    docker(&["network", "inspect", &format!("fluxDockerNetwork_{app}")]).0
}

fn volume_exists(component: &str, app: &str) -> bool {
    docker(&["volume", "inspect", &format!("flux{component}_{app}_data")]).0
}

/// Docker's status of a container (`created`, `running`, …) and its id.
fn status(name: &str) -> (String, String) {
    let out = docker_ok(&["inspect", "-f", "{{.State.Status}} {{.Id}}", name]);
    let (s, id) = out.split_once(' ').unwrap();
    (s.to_string(), id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn prepare_is_idempotent_and_start_after_it_only_starts() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let image = push_unique_image();
    let app = unique("app");
    let plan = plan(&app, &[&image]);

    let first = rt.prepare(&plan).await.unwrap();
    assert!(first.network_created);
    assert_eq!(first.volumes, 1);
    assert_eq!(first.pulls.len(), 1);
    assert!(
        first.pulls[0].pulled,
        "Always policy: the registry was contacted"
    );
    assert!(image_present(&image));
    assert!(network_exists(&app) && volume_exists("c0", &app));
    let net = inspect(&format!("fluxDockerNetwork_{app}"));
    assert_eq!(
        net["Labels"]["io.fluxnode.node"].as_str(),
        Some(node.as_str())
    );
    assert_eq!(
        net["Labels"]["io.fluxnode.app"].as_str(),
        Some(app.as_str())
    );
    assert_eq!(net["Labels"]["io.fluxnode.test"].as_str(), Some("1"));
    let name = format!("fluxc0_{app}");
    assert_eq!(first.containers, 1);
    let (state, prepared_id) = status(&name);
    assert_eq!(state, "created", "prepared, not started");
    let (containers, networks, volumes) = leftovers(&node);
    assert_eq!((containers.len(), networks.len(), volumes.len()), (1, 1, 1));
    assert_eq!(rt.prepared_apps(), vec![app.clone()]);

    // Again: same objects, no second network of the same name, the same container.
    let second = rt.prepare(&plan).await.unwrap();
    assert!(!second.network_created);
    assert_eq!(second.containers, 1);
    assert_eq!(leftovers(&node).1, networks);
    assert_eq!(status(&name).1, prepared_id);

    // A newer spec hash: the unstarted container is recreated.
    let mut newer = plan.clone();
    newer.spec_hash = "h2".into();
    rt.prepare(&newer).await.unwrap();
    let (state, newer_id) = status(&name);
    assert_eq!(state, "created");
    assert_ne!(newer_id, prepared_id);

    // The assignment: no pull (the preparation is fresh), the prepared container started.
    let started = rt.start_app(newer.clone()).await.unwrap();
    assert_eq!(started.containers.len(), 1);
    assert_eq!(started.containers[0].id, newer_id);
    assert!(
        !started.pulls[0].pulled,
        "start after prepare trusts its pull"
    );
    assert_eq!(status(&name), ("running".to_string(), newer_id));
    assert!(rt.prepared_apps().is_empty());
    assert_eq!(
        rt.counters().images_pulled,
        3,
        "the prepares, not the start"
    );

    // A started app is in use: unprepare leaves it alone.
    let un = rt.unprepare(&app).await.unwrap();
    assert!(un.in_use && !un.network && un.containers == 0 && un.images.is_empty());
    assert!(network_exists(&app));
    assert_eq!(status(&name).0, "running");

    let removed = rt.remove_app(&app).await.unwrap();
    assert!(removed.network);
    assert_eq!(removed.images, vec![image.clone()]);
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn unprepare_removes_a_lost_bid_and_spares_what_others_use() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let shared = push_unique_image();
    let own = push_unique_image();
    let base = base_image();
    assert!(
        image_present(&base),
        "push_unique_image pulls the base image"
    );

    // Lost bid on an image a running app also uses.
    let lost = unique("lost");
    rt.prepare(&plan(&lost, &[&shared])).await.unwrap();
    let running = unique("run");
    rt.start_app(plan(&running, &[&shared])).await.unwrap();
    // Lost bid fetching an image of its own, plus one that was here before.
    let solo = unique("solo");
    rt.prepare(&plan(&solo, &[&own, &base])).await.unwrap();
    assert!(network_exists(&lost) && network_exists(&solo));

    let un = rt.unprepare(&lost).await.unwrap();
    assert!(!un.in_use && un.network);
    assert_eq!((un.containers, un.volumes), (1, 1));
    assert!(un.images.is_empty(), "the running app uses {shared}");
    assert!(!network_exists(&lost) && !volume_exists("c0", &lost));
    assert!(image_present(&shared));

    let un = rt.unprepare(&solo).await.unwrap();
    assert!(un.network);
    assert_eq!((un.containers, un.volumes), (2, 2));
    assert_eq!(
        un.images,
        vec![own.clone()],
        "only what the preparation fetched"
    );
    assert!(!image_present(&own) && image_present(&base));

    // The running app's network stays; unpreparing twice or an unknown app is a no-op.
    assert!(rt.unprepare(&running).await.unwrap().in_use);
    assert!(network_exists(&running));
    let again = rt.unprepare(&solo).await.unwrap();
    assert!(!again.in_use && !again.network && again.volumes == 0);
    assert!(rt.prepared_apps().is_empty());

    // A failed preparation leaves nothing behind.
    let broken = unique("broken");
    let missing = format!("{}/fluxnode-test/busybox:{}", registry(), unique("absent"));
    let err = rt.prepare(&plan(&broken, &[&missing])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ImageNotFound);
    assert!(!network_exists(&broken) && !volume_exists("c0", &broken));
    assert!(!docker(&["inspect", &format!("fluxc0_{broken}")]).0);

    rt.remove_app(&running).await.unwrap();
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn after_a_restart_adoption_reports_prepared_apps_for_unprepare() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    // Each app on an image of its own: `remove_app` collects the image it used.
    let prep_image = push_unique_image();
    let run_image = push_unique_image();
    let prepared = unique("prep");
    let started = unique("run");
    {
        let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
        rt.prepare(&plan(&prepared, &[&prep_image])).await.unwrap();
        rt.prepare(&plan(&started, &[&run_image])).await.unwrap();
        rt.start_app(plan(&started, &[&run_image])).await.unwrap();
        // Adoption in the same process knows the preparation: not reported.
        assert!(rt.adopt().await.unwrap().prepared_only.is_empty());
    }

    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let report = rt.adopt().await.unwrap();
    assert_eq!(report.adopted.len(), 1);
    assert_eq!(report.adopted[0].app, started);
    assert_eq!(report.prepared_only, vec![prepared.clone()]);
    assert!(report.unknown.is_empty() && report.missing.is_empty());

    let un = rt.unprepare(&prepared).await.unwrap();
    assert!(un.network && un.containers == 1 && un.images.is_empty());
    assert!(!network_exists(&prepared));
    assert!(rt.adopt().await.unwrap().prepared_only.is_empty());
    // What a previous process fetched is unknown to this one: the image stays.
    assert!(image_present(&prep_image));
    docker_ok(&["rmi", &prep_image]);

    rt.remove_app(&started).await.unwrap();
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn a_stale_preparation_is_pulled_and_created_again() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&node);
    cfg.prepared_image_max_age = std::time::Duration::ZERO;
    let rt = Runtime::new(cfg, Store::open(dir.path()).unwrap());
    let image = push_unique_image();
    let app = unique("app");
    let plan = plan(&app, &[&image]);

    rt.prepare(&plan).await.unwrap();
    let (_, prepared_id) = status(&format!("fluxc0_{app}"));
    std::thread::sleep(std::time::Duration::from_millis(5));
    let started = rt.start_app(plan).await.unwrap();
    assert!(
        started.pulls[0].pulled,
        "past the age limit the start pulls"
    );
    assert_ne!(started.containers[0].id, prepared_id, "and recreates");
    assert_eq!(status(&format!("fluxc0_{app}")).0, "running");
    rt.remove_app(&app).await.unwrap();
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
}
