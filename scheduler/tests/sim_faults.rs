//! The simulator's fault model on `scripts/scale.sh`'s shape (20 comparable nodes, the
//! smallest apps): a whole group killed at once is placed again once its hosts have left
//! the membership view (30 s after their connections closed), not after three missed
//! 5-minute announcements; nodes that fail every start are modelled (and counted);
//! 30 single-instance apps spread over at least 15 of 20 comparable nodes.

use scheduler::sim::testbed::Shape;
use scheduler::sim::{Death, GroupKill, SimConfig, SimReport, run};

const NODES: usize = 20;

fn testbed(apps: usize, instances: u32, seed: u64) -> SimConfig {
    let mut c = SimConfig::new(NODES, apps, seed);
    c.shape = Shape::Testbed { instances };
    c.expiring_share = 0.0;
    c.latency_ms = 1;
    c.loss = 0.0;
    c.register_window_s = apps as u64;
    c.duration_s = 400;
    c
}

fn clean(r: &SimReport) {
    let i = &r.invariants;
    assert_eq!(
        (
            i.double_placements,
            i.capacity_overcommits,
            i.leaked_reservations
        ),
        (0, 0, 0),
        "seed {}: {i:?}",
        r.config.seed
    );
    assert_eq!(r.final_state.apps_above_n, 0, "seed {}", r.config.seed);
}

#[test]
fn a_whole_group_killed_at_once_is_back_about_a_minute_later() {
    for seed in 0..5 {
        let mut c = testbed(10, 3, seed);
        c.faults.kill_group = Some(GroupKill { apps: 1, at_s: 120 });
        let r = run(&c).unwrap();
        clean(&r);
        let f = &r.faults;
        assert_eq!((f.groups_lost, f.groups_not_recovered), (1, 0), "{f:?}");
        // Not before its hosts leave the view (30 s), and well before 15 minutes.
        assert!(
            (30.0..=45.0).contains(&f.group_lost_s.max),
            "seed {seed}: {f:?}"
        );
        assert_eq!(r.final_state.apps_at_n, 10, "seed {seed}");
        assert_eq!(r.kill.as_ref().unwrap().killed_nodes, 3);

        // A machine that goes silent is noticed by the ping timeout first: 10–15 s later.
        c.faults.death = Death::Silent;
        let s = run(&c).unwrap();
        clean(&s);
        assert!(
            s.faults.group_lost_s.max > f.group_lost_s.max + 5.0,
            "seed {seed}: silent {:?} vs killed {:?}",
            s.faults.group_lost_s,
            f.group_lost_s
        );
    }
}

#[test]
fn failing_nodes_fail_every_start_and_are_counted() {
    for seed in 0..5 {
        let mut c = testbed(10, 3, seed);
        c.faults.failing_nodes = 2;
        let r = run(&c).unwrap();
        clean(&r);
        assert_eq!(r.faults.failing_nodes, 2);
        // A failing node wins, fails and releases; no app ever runs on it, and it is
        // called again (the "bids, wins, fails, wins again" of issue 17) unless the
        // protocol holds it off.
        assert!(r.faults.failed_starts > 0, "seed {seed}: {:?}", r.faults);
        assert!(
            r.final_state.distinct_hosts <= NODES - 2,
            "seed {seed}: {:?}",
            r.final_state
        );
        // Same seed without failing nodes: no failed start is counted, every app at N.
        c.faults.failing_nodes = 0;
        let ok = run(&c).unwrap();
        assert_eq!(ok.faults.failed_starts, 0);
        assert_eq!(ok.final_state.apps_at_n, 10, "seed {seed}");
    }
}

#[test]
fn thirty_single_instance_apps_spread_over_comparable_nodes() {
    for seed in 0..5 {
        let mut c = testbed(30, 1, seed);
        c.register_window_s = 15;
        let r = run(&c).unwrap();
        clean(&r);
        assert_eq!(r.final_state.apps_at_n, 30, "seed {seed}");
        assert!(
            r.final_state.distinct_hosts >= 15,
            "seed {seed}: {} distinct hosts",
            r.final_state.distinct_hosts
        );
    }
}

#[test]
fn fault_flags_that_cannot_run_are_refused_naming_the_flag() {
    let mut c = testbed(5, 3, 1);
    c.faults.failing_nodes = NODES;
    assert!(run(&c).unwrap_err().to_string().contains("--failing-nodes"));
    let mut c = testbed(5, 3, 1);
    c.faults.kill_group = Some(GroupKill {
        apps: 1,
        at_s: 10_000,
    });
    assert!(run(&c).unwrap_err().to_string().contains("--kill-group"));
    let mut c = testbed(5, 0, 1);
    c.shape = Shape::Testbed { instances: 0 };
    assert!(run(&c).unwrap_err().to_string().contains("--instances"));
}
