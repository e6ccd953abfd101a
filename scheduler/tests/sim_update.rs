//! `--update` in the simulator, small: the bidding rollout updates every chosen app, one
//! instance at a time (never fewer than N − 1 serving for a 3-instance app when no start
//! fails), with no revert, through a shared ledger or each node's own; FluxOS's
//! uncoordinated redeploy takes many times longer; the same seed gives the same figures.

use scheduler::sim::{SimConfig, SimReport, Strategy, Update, UpdateReport, run};

const NODES: usize = 200;
const APPS: usize = 50;
const UPDATED: usize = 20;

fn config(seed: u64, strategy: Strategy) -> SimConfig {
    let mut c = SimConfig::new(NODES, APPS, seed);
    c.strategy = strategy;
    // No faults: every start succeeds.
    c.start_failure = 0.0;
    match strategy {
        Strategy::Bidding => {
            c.duration_s = 400;
            c.update = Some(Update {
                apps: UPDATED,
                at_s: 120,
            });
        }
        // FluxOS takes minutes to place and tens of minutes to redeploy.
        Strategy::Fluxos => {
            c.duration_s = 7_200;
            c.update = Some(Update {
                apps: UPDATED,
                at_s: 900,
            });
        }
    }
    c
}

fn update(r: &SimReport) -> &UpdateReport {
    r.update.as_ref().expect("an update section")
}

#[test]
fn the_bidding_rollout_updates_every_app_and_keeps_n_minus_1_serving() {
    for seed in 1..=3 {
        let r = run(&config(seed, Strategy::Bidding)).unwrap();
        let u = update(&r);
        eprintln!(
            "seed {seed}: {} apps, fully updated p50 {} s max {} s, fewest {:?}",
            u.apps_updated,
            u.time_to_updated_s.p50,
            u.time_to_updated_s.max,
            u.fewest_at_least_n_minus
        );
        assert_eq!(u.apps_updated, UPDATED, "seed {seed}: {u:?}");
        assert_eq!(u.never_updated, 0, "seed {seed}: {u:?}");
        assert_eq!(u.reverted, 0, "seed {seed}: {u:?}");
        assert_eq!(u.time_to_updated_s.count, UPDATED, "seed {seed}");
        // One at a time, each healthy for 10 s before the next: at least 10 s per step
        // after the first, and well within the 5-minute deadline.
        assert!(u.time_to_updated_s.max < 300.0, "seed {seed}: {u:?}");
        assert!(u.time_to_updated_s.p50 >= 20.0, "seed {seed}: {u:?}");
        let three = u.by_instances.iter().find(|g| g.instances == 3);
        if let Some(g) = three {
            assert!(
                g.fewest_n_minus.len() <= 2,
                "seed {seed}: a 3-instance app fell below N - 1: {g:?}"
            );
        }
        assert!(
            u.fewest_at_least_n_minus.get(1) == Some(&UPDATED),
            "seed {seed}: every app kept N - 1 serving: {u:?}"
        );
        let i = &r.invariants;
        assert_eq!(
            (
                i.double_placements,
                i.capacity_overcommits,
                i.leaked_reservations
            ),
            (0, 0, 0),
            "seed {seed}: {i:?}"
        );
        assert_eq!(r.final_state.apps_above_n, 0, "seed {seed}");
    }
}

#[test]
fn the_update_reaches_every_node_through_its_own_ledger() {
    let mut c = config(2, Strategy::Bidding);
    c.node_ledgers = true;
    let r = run(&c).unwrap();
    let u = update(&r);
    assert_eq!(r.ledger.views, NODES);
    assert_eq!((u.apps_updated, u.never_updated), (UPDATED, 0), "{u:?}");
    assert_eq!(u.fewest_at_least_n_minus.get(1), Some(&UPDATED), "{u:?}");
    assert_eq!(r.ledger.nodes_differing_at_end, 0);
}

#[test]
fn fluxos_redeploys_take_many_times_longer() {
    let b = run(&config(1, Strategy::Bidding)).unwrap();
    let f = run(&config(1, Strategy::Fluxos)).unwrap();
    let (bu, fu) = (update(&b), update(&f));
    eprintln!("fluxos: {fu:?}");
    assert_eq!(fu.apps_updated, UPDATED, "{fu:?}");
    assert!(fu.time_to_updated_s.count > UPDATED / 2, "{fu:?}");
    // A host redeploys at one of its checks every 8–18 minutes with odds of 1/2.
    assert!(fu.time_to_updated_s.p50 >= 8.0 * 60.0, "{fu:?}");
    assert!(
        fu.time_to_updated_s.p50 > 5.0 * bu.time_to_updated_s.max,
        "bidding {bu:?}, fluxos {fu:?}"
    );
    assert_eq!(fu.reverted, 0);
}

#[test]
fn the_same_seed_gives_the_same_update_figures() {
    for strategy in [Strategy::Bidding, Strategy::Fluxos] {
        let a = run(&config(7, strategy)).unwrap();
        let b = run(&config(7, strategy)).unwrap();
        assert_eq!(a.update, b.update, "{strategy:?}");
        assert_eq!(a.digest, b.digest, "{strategy:?}");
        assert_eq!(a.events, b.events, "{strategy:?}");
    }
}

#[test]
fn an_update_out_of_the_run_is_refused() {
    let mut c = config(1, Strategy::Bidding);
    c.update = Some(Update {
        apps: 1,
        at_s: c.duration_s + 1,
    });
    assert!(run(&c).unwrap_err().to_string().contains("--update"));
    c.update = Some(Update { apps: 0, at_s: 10 });
    assert!(run(&c).is_err());
}
