//! Rolling updates through the protocol: the coordinator moves the group to the new spec
//! one instance at a time, gated on health, reverts a version that does not turn healthy
//! (or fails to start), and a new coordinator finishes a rollout whose coordinator died.
//! Checked against the oracle after every tick: never fewer than N − 1 instances serving,
//! never more than one moving.

use scheduler::protocol::{Health, Millis};

mod protocol_net;
use protocol_net::{Net, app};

const N: usize = 3;

/// A 3-instance app "web" at version 1, running healthy on 6 nodes' network.
fn running_net() -> (Net, Millis) {
    let mut net = Net::new(6);
    net.healthy_on_start = true;
    net.register(&app("web", N as u32), 0);
    let t = net.run_while(0, 20_000, |n| healthy_on(n, 1).len() < N);
    assert_eq!(
        healthy_on(&net, 1).len(),
        N,
        "web at 3 healthy on version 1"
    );
    // Let the beats settle (healthy for the stable time).
    net.run(t, t + 12_000);
    (net, t + 13_000)
}

/// Live hosts of "web" whose instance runs `version` and is healthy.
fn healthy_on(net: &Net, version: u64) -> Vec<usize> {
    (0..net.nodes.len())
        .filter(|&i| {
            net.alive[i]
                && net.nodes[i].version_of("web") == Some(version)
                && net.nodes[i].health_of("web") == Some(Health::Healthy)
                && net.nodes[i]
                    .hosted()
                    .any(|(a, running)| &**a == "web" && running)
        })
        .collect()
}

/// Live hosts of "web" on any version.
fn hosts(net: &Net) -> Vec<(usize, u64)> {
    (0..net.nodes.len())
        .filter(|&i| net.alive[i])
        .filter_map(|i| net.nodes[i].version_of("web").map(|v| (i, v)))
        .collect()
}

/// Runs until `done` or `limit`, checking the oracle every tick; returns the time taken
/// and the fewest healthy instances seen.
fn roll(
    net: &mut Net,
    from: Millis,
    limit: Millis,
    done: impl Fn(&Net) -> bool,
) -> (Millis, usize) {
    let mut fewest = usize::MAX;
    let mut t = from;
    // Instances placed during the rollout (a replacement, a new one) start on the target
    // version and do not count as moving.
    let before: Vec<usize> = hosts(net).into_iter().map(|(i, _)| i).collect();
    while t <= limit && !done(net) {
        net.run(t, t);
        let healthy = healthy_on(net, 1).len() + healthy_on(net, 2).len();
        fewest = fewest.min(healthy);
        let moving = hosts(net)
            .iter()
            .filter(|&&(i, _)| {
                before.contains(&i) && net.nodes[i].health_of("web") != Some(Health::Healthy)
            })
            .count();
        assert!(
            moving <= 1,
            "at most one instance moves at a time, t={t}: {:?}",
            hosts(net)
        );
        // A host that keeps its instance keeps it listed while it moves (the daemon's
        // running report lists what `listed` says): its group must not replace it.
        for &i in &before {
            if net.alive[i] && net.nodes[i].version_of("web").is_some() {
                assert!(net.nodes[i].listed("web"), "node {i} unlisted at t={t}");
            }
        }
        t += 1_000;
    }
    (t - from, fewest)
}

#[test]
fn an_update_moves_every_instance_one_at_a_time_and_never_below_n_minus_1() {
    let (mut net, t0) = running_net();
    net.update(&app("web", N as u32), 2, t0);
    let (took, fewest) = roll(&mut net, t0, t0 + 120_000, |n| healthy_on(n, 2).len() == N);
    eprintln!("3 instances updated in {took} ms, fewest healthy {fewest}");
    assert_eq!(
        healthy_on(&net, 2).len(),
        N,
        "all on version 2: {:?}",
        hosts(&net)
    );
    assert!(fewest >= N - 1, "never fewer than N - 1 healthy: {fewest}");
    // One at a time, each healthy 10 s before the next: at least 2 × 10 s.
    assert!(took >= 20_000, "gated on health: {took} ms");
    assert!(net.view.app("web").unwrap().reverted.is_none());
}

#[test]
fn a_version_that_never_turns_healthy_is_reverted_after_the_deadline() {
    let (mut net, t0) = running_net();
    for node in &mut net.nodes {
        node.set_rollout_policy(scheduler::protocol::RolloutPolicy {
            deadline: 30_000,
            ..Default::default()
        });
    }
    net.never_healthy.push(2);
    net.update(&app("web", N as u32), 2, t0);
    let (took, fewest) = roll(&mut net, t0, t0 + 120_000, |n| {
        n.view.app("web").unwrap().reverted.is_some() && healthy_on(n, 1).len() == N
    });
    let entry = net.view.app("web").unwrap();
    let reverted = entry.reverted.as_ref().expect("reverted");
    eprintln!("reverted after {took} ms: {}", reverted.reason);
    assert_eq!((reverted.version, reverted.good), (2, 1));
    assert!(
        reverted.reason.contains("not healthy"),
        "{}",
        reverted.reason
    );
    assert!(
        (30_000..45_000).contains(&took),
        "reverted at the deadline: {took} ms"
    );
    assert_eq!(
        healthy_on(&net, 1).len(),
        N,
        "back at N on version 1: {:?}",
        hosts(&net)
    );
    assert!(fewest >= N - 1);
    // It stays reverted: nobody moves to version 2 again.
    net.run(t0 + took, t0 + took + 60_000);
    assert_eq!(healthy_on(&net, 1).len(), N, "{:?}", hosts(&net));
}

#[test]
fn a_version_whose_start_fails_is_reverted_by_its_host_at_once() {
    let (mut net, t0) = running_net();
    net.start_fails.push(2);
    net.update(&app("web", N as u32), 2, t0);
    let (took, _) = roll(&mut net, t0, t0 + 60_000, |n| {
        n.view.app("web").unwrap().reverted.is_some() && healthy_on(n, 1).len() == N
    });
    let reverted = net
        .view
        .app("web")
        .unwrap()
        .reverted
        .clone()
        .expect("reverted");
    eprintln!("reverted after {took} ms: {}", reverted.reason);
    assert!(
        reverted.reason.contains("start failed"),
        "{}",
        reverted.reason
    );
    assert!(took < 10_000, "the host reverts at once: {took} ms");
    assert_eq!(hosts(&net).len(), N, "no instance lost: {:?}", hosts(&net));
}

#[test]
fn a_rollout_whose_coordinator_dies_is_finished_by_the_next_one() {
    let (mut net, t0) = running_net();
    net.update(&app("web", N as u32), 2, t0);
    // Wait until the first instance has moved and is healthy on version 2.
    let t1 = net.run_while(t0, t0 + 30_000, |n| healthy_on(n, 2).is_empty());
    assert_eq!(healthy_on(&net, 2).len(), 1);
    // The coordinator moves itself last, so it is still on version 1: kill it.
    let coordinator = hosts(&net)
        .into_iter()
        .find(|&(i, v)| v == 1 && net.nodes[i].rollouts().any(|(a, _, _)| &**a == "web"))
        .map(|(i, _)| i)
        .expect("a coordinator with a rollout in progress on version 1");
    net.alive[coordinator] = false;
    // The group replaces the dead member (on the target version) and the new coordinator
    // moves the rest: all live instances on version 2, well within the 5-minute deadline.
    let (took, _) = roll(&mut net, t1, t1 + 200_000, |n| {
        healthy_on(n, 2).len() == N && hosts(n).iter().all(|&(_, v)| v == 2)
    });
    eprintln!("rollout finished {took} ms after its coordinator died");
    assert_eq!(healthy_on(&net, 2).len(), N, "{:?}", hosts(&net));
    assert!(took < 120_000, "{took} ms");
}

#[test]
fn an_update_that_adds_instances_is_reconciled_to_the_new_count() {
    let (mut net, t0) = running_net();
    net.update(&app("web", 4), 2, t0);
    let (took, _) = roll(&mut net, t0, t0 + 120_000, |n| healthy_on(n, 2).len() == 4);
    eprintln!("4 instances on version 2 after {took} ms");
    assert_eq!(healthy_on(&net, 2).len(), 4, "{:?}", hosts(&net));
}

#[test]
fn a_host_without_room_for_the_new_version_is_replaced_elsewhere_first() {
    let (mut net, t0) = running_net();
    let before: Vec<usize> = hosts(&net).into_iter().map(|(i, _)| i).collect();
    // The new version needs 2 cores; one current host has room for only 1 more.
    let small = before[0];
    let mut info = net.view.info(small as u32).unwrap().clone();
    info.total = proto::tier::Resources::new(2.6, info.total.ram, info.total.hdd);
    net.view.upsert_member(small as u32, info.clone(), t0);
    net.view.refresh(t0);
    let outs = net.nodes[small].handle(
        scheduler::protocol::Input::Capacity {
            total: info.total,
            base_used: proto::tier::Resources::default(),
        },
        t0,
        &net.view,
    );
    net.apply(small as u32, outs, t0);
    let bigger =
        scheduler::model::AppDemand::new("web", N as u32, proto::tier::Resources::new(2.0, 500, 5))
            .with_height(1_999_000);
    net.update(&bigger, 2, t0);
    let (took, fewest) = roll(&mut net, t0, t0 + 180_000, |n| {
        healthy_on(n, 2).len() == N && hosts(n).len() == N
    });
    eprintln!("updated with node {small} replaced in {took} ms, fewest healthy {fewest}");
    let after = hosts(&net);
    assert_eq!(healthy_on(&net, 2).len(), N, "{after:?}");
    assert_eq!(
        after.len(),
        N,
        "the surge instance is gone again: {after:?}"
    );
    assert!(
        !after.iter().any(|&(i, _)| i == small),
        "the host without room stopped: {after:?}"
    );
    assert!(fewest >= N - 1, "never below N - 1 healthy: {fewest}");
    assert!(net.view.app("web").unwrap().reverted.is_none());
}
