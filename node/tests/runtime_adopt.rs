//! A restarted daemon adopts the containers it finds: same ids, nothing recreated or removed.

mod common;

use std::collections::BTreeMap;

use common::*;
use fluxnode::runtime::{AppPlan, Runtime};
use fluxnode::store::Store;

/// id, start time and Docker restart count of `name`.
fn identity(name: &str) -> (String, String, String) {
    let out = docker_ok(&[
        "inspect",
        "-f",
        "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}",
        name,
    ]);
    let mut it = out.split(' ').map(str::to_string);
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs Docker and the local registry (scripts/test.sh runs it)"]
async fn new_runtime_adopts_the_same_containers() {
    let node = unique("node");
    let _cleanup = Cleanup(node.clone());
    let dir = tempfile::tempdir().unwrap();
    let image = push_unique_image();

    let mut plans = Vec::new();
    let mut before = BTreeMap::new();
    {
        let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
        for i in 0..3 {
            let mut components = vec![component("main", &image, &["sleep", "3600"])];
            if i == 2 {
                components.push(component("side", &image, &["sleep", "3600"]));
            }
            let plan = AppPlan {
                app: unique("app"),
                spec_hash: format!("hash{i}"),
                components,
            };
            let rep = rt.start_app(plan.clone()).await.unwrap();
            for c in rep.containers {
                before.insert(c.name.clone(), identity(&c.name));
                assert_eq!(before[&c.name].0, c.id);
            }
            plans.push(plan);
        }
        // A container this node labelled but whose plan was never stored is reported, not
        // adopted and not touched.
        let stray = format!("fluxstray_{}", unique("app"));
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &stray,
            "--label",
            &format!("io.fluxnode.node={node}"),
            "--label",
            "io.fluxnode.app=strayapp",
            "--label",
            "io.fluxnode.component=stray",
            "--label",
            "io.fluxnode.test=1",
            &image,
            "sleep",
            "3600",
        ]);
        before.insert(stray, ("stray".into(), String::new(), String::new()));
        // The runtime and the store go away (as in a daemon restart).
    }

    let rt = Runtime::new(config(&node), Store::open(dir.path()).unwrap());
    let report = rt.adopt().await.unwrap();
    assert_eq!(report.adopted.len(), 3, "{report:?}");
    assert!(report.missing.is_empty());
    assert_eq!(report.unknown.len(), 1);
    assert_eq!(report.unknown[0].app, "strayapp");
    let mut adopted_names = Vec::new();
    for a in &report.adopted {
        let plan = plans.iter().find(|p| p.app == a.app).unwrap();
        assert_eq!(a.spec_hash, plan.spec_hash);
        assert!(!a.stale);
        assert_eq!(a.running, plan.components.len());
        for c in &a.containers {
            assert_eq!(identity(&c.name), before[&c.name], "{} untouched", c.name);
            assert_eq!(before[&c.name].0, c.id);
            adopted_names.push(c.name.clone());
        }
    }
    assert_eq!(adopted_names.len(), 4);
    assert_eq!(rt.managed_apps().len(), 3);

    // Supervising and re-applying the same plans changes nothing: no duplicate, no restart.
    let sup = rt.supervise_once().await.unwrap();
    assert_eq!((sup.checked, sup.restarted.len()), (4, 0));
    for plan in &plans {
        let rep = rt.start_app(plan.clone()).await.unwrap();
        assert_eq!(rep.kept, plan.components.len());
    }
    let (containers, networks, _) = leftovers(&node);
    assert_eq!(
        containers.len(),
        5,
        "4 adopted + the stray one, no duplicate"
    );
    assert_eq!(networks.len(), 3);
    for name in adopted_names {
        assert_eq!(identity(&name), before[&name]);
    }
    assert_eq!(rt.counters().containers_adopted, 4);

    // The stray app is removable by name although it has no plan.
    for app in plans.iter().map(|p| p.app.as_str()).chain(["strayapp"]) {
        rt.remove_app(app).await.unwrap();
    }
    assert_eq!(leftovers(&node), (vec![], vec![], vec![]));
    docker(&["rmi", &image]);
}
