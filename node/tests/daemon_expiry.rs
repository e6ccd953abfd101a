//! Expiry on a real daemon with a fast chain clock (10 ms blocks): an app is removed at
//! expiry + the 2,640-block grace and not before, and a renewed app stays. Expire is
//! 1,000 blocks (10 s), so removal comes 36.4 s after registration.

mod cluster;

use std::time::{Duration, Instant};

use cluster::{Cluster, web_spec, write};

#[test]
#[ignore = "full tier: needs Docker, the local registry and a running daemon (scripts/test.sh runs it)"]
fn expired_app_goes_at_expiry_plus_grace_and_renewed_one_stays() {
    let c = Cluster::start(1, 60, &["--single-node", "true", "--block-time", "10ms"]);
    c.wait_ready(Duration::from_secs(60));
    let dir = c.owner_key.parent().unwrap();
    let key = c.owner_key.to_str().unwrap();
    for (app, port) in [("expiring", 31601u16), ("renewed", 31602)] {
        let spec = write(dir, &format!("{app}.json"), &web_spec(app, 1, port, 1_000));
        let out = c.cli(
            0,
            &["app", "register", spec.to_str().unwrap(), "--key", key],
        );
        assert!(out.status.success(), "{out:?}");
    }
    c.wait_for("both running", Duration::from_secs(30), || {
        (c.containers("expiring").len() == 1 && c.containers("renewed").len() == 1).then_some(())
    });
    let out = c.cli(
        0,
        &[
            "app", "renew", "renewed", "--blocks", "100000", "--key", key,
        ],
    );
    assert!(out.status.success(), "{out:?}");

    let app = c.nodes[0].get("/api/v1/apps/expiring").unwrap();
    let removal = app["removal_height"].as_u64().unwrap();
    let expires = app["expires_at_height"].as_u64().unwrap();
    assert_eq!(
        removal - expires,
        2_640,
        "grace is 22 h of 30 s blocks: {app}"
    );

    // Before the removal height the instance stays, even though the app has expired.
    let t0 = Instant::now();
    loop {
        let height = c.nodes[0].get("/api/v1/node").unwrap()["height"]
            .as_u64()
            .unwrap();
        if height + 100 >= removal {
            break;
        }
        if height > expires {
            assert_eq!(
                c.containers("expiring").len(),
                1,
                "removed at {height} < {removal}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "chain clock too slow"
        );
    }
    // Removal is checked on the group's 5 s beat schedule: up to ~10 s (1,000 blocks at
    // this clock; under one block at Flux's 30 s) after the removal height.
    c.wait_for("expired app removed", Duration::from_secs(30), || {
        c.containers("expiring").is_empty().then_some(())
    });
    let height = c.nodes[0].get("/api/v1/node").unwrap()["height"]
        .as_u64()
        .unwrap();
    assert!(height >= removal, "removed at {height}, before {removal}");
    eprintln!(
        "removed {:?} after the wait began, at height {height} (removal height {removal})",
        t0.elapsed()
    );

    // The renewed app is still there, and the expiry was counted.
    assert_eq!(c.containers("renewed").len(), 1);
    c.wait_for("the expiry counted", Duration::from_secs(10), || {
        let text = c.nodes[0].get_text("/metrics")?;
        text.lines()
            .any(|l| l.starts_with("fluxnode_apps_expired_total ") && !l.ends_with(" 0"))
            .then_some(())
    });
}
