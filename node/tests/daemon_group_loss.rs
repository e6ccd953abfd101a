//! Six real daemons on 127.0.0.211–216: an app's three hosts die at once (daemons killed,
//! their containers removed, as when the machines go down). The survivors notice from the
//! closed connections, take the hosts for dead after 30 s instead of three missed 5-minute
//! announcements, and place the app again on the three live nodes.

mod cluster;

use std::time::{Duration, Instant};

use cluster::{Cluster, web_spec, write};

/// The bound for a whole group lost at once.
const BACK_WITHIN: Duration = Duration::from_secs(90);

/// The node index (0-based) a container of this cluster belongs to, from its name suffix
/// `_t{base}n{k}`.
fn node_of(name: &str) -> usize {
    let k = name.rsplit('n').next().unwrap();
    k.parse::<usize>().unwrap() - 1
}

#[test]
#[ignore = "full tier: needs Docker, the local registry and 6 daemons (scripts/test.sh runs it)"]
fn whole_group_lost_at_once_is_placed_again_within_90_s() {
    let mut c = Cluster::start(6, 210, &[]);
    c.wait_ready(Duration::from_secs(90));
    let dir = c.owner_key.parent().unwrap().to_path_buf();
    let key = c.owner_key.to_str().unwrap().to_string();
    let spec = write(&dir, "lost.json", &web_spec("grouplost", 3, 31601, 5_000));
    let out = c.cli(
        0,
        &["app", "register", spec.to_str().unwrap(), "--key", &key],
    );
    assert!(out.status.success(), "{out:?}");
    let first = c.wait_for("3 running", Duration::from_secs(60), || {
        let v = c.containers("grouplost");
        (v.len() == 3).then_some(v)
    });
    let hosts: Vec<usize> = first.iter().map(|(n, _)| node_of(n)).collect();

    // The three hosts die: daemons killed, their containers gone with their machines.
    let t0 = Instant::now();
    for &h in &hosts {
        c.nodes[h].kill9();
    }
    let ids: Vec<&str> = first.iter().map(|(_, id)| id.as_str()).collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids);
    assert!(
        std::process::Command::new("docker")
            .args(&rm)
            .status()
            .unwrap()
            .success()
    );

    let again = c.wait_for("3 running on the survivors", BACK_WITHIN, || {
        let v = c.containers("grouplost");
        (v.len() == 3 && v.iter().all(|(n, _)| !hosts.contains(&node_of(n)))).then_some(v)
    });
    let took = t0.elapsed();
    eprintln!("whole group of 3 lost → 3 running again in {took:?}: {again:?}");
    // A survivor's API agrees.
    let survivor = (0..6).find(|i| !hosts.contains(i)).unwrap();
    c.wait_for("API says 3 running", Duration::from_secs(20), || {
        c.nodes[survivor]
            .get("/api/v1/apps/grouplost")
            .filter(|v| v["running"] == 3)
    });
    // Never more than 3 afterwards.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(c.containers("grouplost").len(), 3);
}
