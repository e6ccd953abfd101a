//! The placement rule against brute force on small inputs (≤ 12 nodes): every subset of
//! the eligible nodes is enumerated to find the best spread reachable at each level.

mod common;

use std::cmp::Ordering;
use std::collections::HashSet;

use proptest::prelude::*;
use scheduler::eligibility::{check, check_static};
use scheduler::ranking::{QualityKey, best_quality, cmp_keyed, node_score};
use scheduler::{AppDemand, Capacity, NodeInfo, Params, Running, invariants, schedule};

/// Distinct continents, countries and regions covered by `nodes`.
fn coverage(nodes: &[&NodeInfo]) -> [usize; 3] {
    let c: HashSet<&str> = nodes.iter().map(|n| n.geo.continent.as_str()).collect();
    let k: HashSet<(&str, &str)> = nodes
        .iter()
        .map(|n| (n.geo.continent.as_str(), n.geo.country.as_str()))
        .collect();
    let r: HashSet<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| {
            (
                n.geo.continent.as_str(),
                n.geo.country.as_str(),
                n.geo.region.as_str(),
            )
        })
        .collect();
    [c.len(), k.len(), r.len()]
}

/// Over every `k`-subset S of `pool`: the best coverage of `base ∪ S` at each level on
/// its own, and the lexicographically best (continent, country, region) triple.
fn best_coverage(base: &[&NodeInfo], pool: &[&NodeInfo], k: usize) -> ([usize; 3], [usize; 3]) {
    let mut per_level = [0; 3];
    let mut lex = [0; 3];
    let n = pool.len();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize != k {
            continue;
        }
        let mut set: Vec<&NodeInfo> = base.to_vec();
        set.extend((0..n).filter(|i| mask & (1 << i) != 0).map(|i| pool[i]));
        let c = coverage(&set);
        for l in 0..3 {
            per_level[l] = per_level[l].max(c[l]);
        }
        lex = lex.max(c);
    }
    (per_level, lex)
}

/// Free capacity of a node as the scheduler sees it when choosing (its score depends on it).
type FreeOf<'a> = &'a dyn Fn(&NodeInfo) -> Capacity;

/// `best`: the best quality among every node given to the scheduler (classes count down
/// from it).
fn better(app: &AppDemand, free: FreeOf<'_>, best: u64, a: &NodeInfo, b: &NodeInfo) -> Ordering {
    let key = |n: &NodeInfo| QualityKey::new(&app.name, &n.id, node_score(n, best, free(n)));
    cmp_keyed(key(a), &a.id, key(b), &b.id)
}

fn region(n: &NodeInfo) -> (&str, &str, &str) {
    (&n.geo.continent, &n.geo.country, &n.geo.region)
}

/// Checks that `winners` (chosen from `pool`, added to `base`) spread maximally at every
/// level and that no loser of a winner's region outranks it.
#[allow(clippy::too_many_arguments)]
fn assert_rule(
    app: &AppDemand,
    free: FreeOf<'_>,
    best: u64,
    base: &[&NodeInfo],
    pool: &[&NodeInfo],
    winners: &[&NodeInfo],
    slots: usize,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(winners.len(), slots.min(pool.len()), "winner count");
    for w in winners {
        prop_assert!(
            pool.iter().any(|p| p.id == w.id),
            "winner {} not in pool",
            w.id
        );
    }
    let (per_level, lex) = best_coverage(base, pool, winners.len());
    let mut all = base.to_vec();
    all.extend_from_slice(winners);
    let got = coverage(&all);
    prop_assert_eq!(got, per_level, "spread not maximal at every level");
    prop_assert_eq!(got, lex);
    for l in pool
        .iter()
        .filter(|p| !winners.iter().any(|w| w.id == p.id))
    {
        for w in winners.iter().filter(|w| region(w) == region(l)) {
            prop_assert!(
                better(app, free, best, w, l) == Ordering::Greater,
                "loser {} outranks winner {} in its region",
                l.id,
                w.id
            );
        }
    }
    Ok(())
}

fn by_ids<'a>(nodes: &'a [NodeInfo], ids: &[String]) -> Vec<&'a NodeInfo> {
    ids.iter()
        .map(|id| nodes.iter().find(|n| &n.id == id).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// One app, nothing running: winners against every subset of the eligible nodes.
    #[test]
    fn fresh_placement_matches_the_oracle(seed in any::<u64>()) {
        let mut c = common::case(seed, 12, 1);
        c.running.clear();
        let app = &c.apps[0];
        let out = schedule(&c.nodes, &c.apps, &[], &c.params).unwrap();
        invariants::check(&c.nodes, &c.apps, &[], &c.params, &out).unwrap();
        let eligible: Vec<&NodeInfo> = c
            .nodes
            .iter()
            .filter(|n| check(app, n, n.free(), false, &c.params).is_ok())
            .collect();
        let winners = by_ids(&c.nodes, &out.placements[0].nodes);
        assert_rule(app, &NodeInfo::free, best_quality(&c.nodes), &[], &eligible, &winners, app.instances as usize)?;
    }

    /// One app with running instances: kept ones stay when there are too few, the best
    /// spread is kept when there are too many, and new ones spread around the kept.
    #[test]
    fn reconcile_matches_the_oracle(seed in any::<u64>()) {
        let c = common::case(seed, 12, 1);
        let app = &c.apps[0];
        let out = schedule(&c.nodes, &c.apps, &c.running, &c.params).unwrap();
        invariants::check(&c.nodes, &c.apps, &c.running, &c.params, &out).unwrap();
        let running: Vec<&NodeInfo> = c
            .nodes
            .iter()
            .filter(|n| c.running.contains(&Running::new(app.name.clone(), n.id.clone())))
            .collect();
        let keepable: Vec<&NodeInfo> =
            running.iter().copied().filter(|n| check_static(app, n).is_ok()).collect();
        let kept = by_ids(&c.nodes, &out.placements[0].keep);
        let free_for_new = |node: &NodeInfo| {
            let mut free = node.free();
            if !c.params.running_counted_in_used && running.iter().any(|r| r.id == node.id) {
                free = free.saturating_sub(Capacity::from(app.resources));
            }
            free
        };
        let n = app.instances as usize;
        if keepable.len() <= n {
            prop_assert_eq!(kept.len(), keepable.len(), "all keepable instances stay");
        } else {
            assert_rule(app, &free_for_new, best_quality(&c.nodes), &[], &keepable, &kept, n)?;
        }
        let eligible: Vec<&NodeInfo> = c
            .nodes
            .iter()
            .filter(|node| {
                let is_running = running.iter().any(|r| r.id == node.id);
                check(app, node, free_for_new(node), is_running, &c.params).is_ok()
            })
            .collect();
        let winners = by_ids(&c.nodes, &out.placements[0].nodes);
        assert_rule(app, &free_for_new, best_quality(&c.nodes), &kept, &eligible, &winners, n - kept.len())?;
    }
}

#[test]
fn oracle_rejects_a_poor_spread() {
    // Guard that the oracle can fail: two winners in one country when another exists.
    let mk = |id: &str, geo: &str| NodeInfo {
        id: id.into(),
        tier: proto::tier::Tier::Stratus,
        geo: geo.parse().unwrap(),
        total: proto::tier::Resources::new(8.0, 32_000, 880),
        used: Default::default(),
        bench_score: 100.0,
        uptime: 1.0,
    };
    let nodes = [
        mk("a", "EU_DE_Hesse"),
        mk("b", "EU_DE_Bavaria"),
        mk("c", "EU_FR_Normandy"),
    ];
    let pool: Vec<&NodeInfo> = nodes.iter().collect();
    let app = AppDemand::new("x", 2, proto::tier::Resources::new(1.0, 100, 1));
    let poor = [&nodes[0], &nodes[1]];
    let result = assert_rule(
        &app,
        &NodeInfo::free,
        best_quality(&nodes),
        &[],
        &pool,
        &poor,
        2,
    );
    assert!(result.is_err());
    let _ = Params::default();
}
