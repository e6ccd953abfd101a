//! Invariants over many random cases: capacity, uniqueness, counts, and independence
//! from input order.

mod common;

use proptest::prelude::*;
use scheduler::{invariants, schedule};

/// A million small batches (≤ 4 nodes, ≤ 3 apps, random running instances and
/// accounting mode): no node ever receives more than its free capacity, and every other
/// invariant holds. Cases come from seeds, so a failure names the seed that replays it.
#[test]
fn capacity_never_exceeded_over_a_million_cases() {
    const CASES: u64 = 1_000_000;
    let mut placed = 0usize;
    let mut stopped = 0usize;
    let mut short = 0usize;
    for seed in 0..CASES {
        let c = common::case(seed, 4, 3);
        let out = schedule(&c.nodes, &c.apps, &c.running, &c.params).unwrap();
        if let Err(v) = invariants::check(&c.nodes, &c.apps, &c.running, &c.params, &out) {
            panic!("seed {seed}: {v}");
        }
        placed += out.placements.iter().map(|p| p.nodes.len()).sum::<usize>();
        stopped += out.stop.len();
        short += out.unplaced.len();
    }
    // The generator must produce contention, or the property says little.
    assert!(placed > CASES as usize / 4, "placed {placed}");
    assert!(stopped > CASES as usize / 20, "stopped {stopped}");
    assert!(short > CASES as usize / 10, "short {short}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Shuffling the node, app and running lists changes nothing in the output.
    #[test]
    fn output_independent_of_input_order(seed in any::<u64>(), perm in any::<u64>()) {
        let c = common::case(seed, 12, 5);
        let out = schedule(&c.nodes, &c.apps, &c.running, &c.params).unwrap();
        invariants::check(&c.nodes, &c.apps, &c.running, &c.params, &out).unwrap();
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(perm);
        let (mut nodes, mut apps, mut running) = (c.nodes.clone(), c.apps.clone(), c.running.clone());
        nodes.shuffle(&mut rng);
        apps.shuffle(&mut rng);
        running.shuffle(&mut rng);
        let shuffled = schedule(&nodes, &apps, &running, &c.params).unwrap();
        invariants::check(&nodes, &apps, &running, &c.params, &shuffled).unwrap();
        prop_assert_eq!(out, shuffled);
    }
}
