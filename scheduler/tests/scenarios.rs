//! Hand-built scenarios for batch placement, reconciliation, expiry and explain.

use proto::tier::{Resources, Tier};
use scheduler::explain::ExplainError;
use scheduler::invariants::{self, Violation};
use scheduler::reconcile::StopReason;
use scheduler::spread::Level;
use scheduler::{
    AppDemand, Explanation, Ineligible, InputError, NodeInfo, Params, Running, explain, schedule,
};

fn node(id: &str, geo: &str, bench: f64) -> NodeInfo {
    NodeInfo {
        id: id.into(),
        tier: Tier::Nimbus,
        geo: geo.parse().unwrap(),
        total: Resources::new(8.0, 32_000, 440),
        used: Resources::default(),
        bench_score: bench,
        uptime: 1.0,
    }
}

fn small(name: &str, instances: u32) -> AppDemand {
    AppDemand::new(name, instances, Resources::new(1.0, 1_000, 10))
}

/// Benchmarks an octave apart, so every node is in its own quality class (within a class
/// the freer node, then the hash, would decide).
fn world() -> Vec<NodeInfo> {
    vec![
        node("de1", "EU_DE_Hesse", 3200.0),
        node("de2", "EU_DE_Hesse", 1600.0),
        node("de3", "EU_DE_Bavaria", 800.0),
        node("fr1", "EU_FR_Normandy", 400.0),
        node("us1", "NA_US_Texas", 200.0),
        node("us2", "NA_US_Ohio", 100.0),
        node("jp1", "AS_JP_Tokyo", 50.0),
    ]
}

fn run(
    nodes: &[NodeInfo],
    apps: &[AppDemand],
    running: &[Running],
    p: &Params,
) -> scheduler::ScheduleOutput {
    let out = schedule(nodes, apps, running, p).unwrap();
    invariants::check(nodes, apps, running, p, &out).unwrap();
    out
}

#[test]
fn spread_beats_quality_and_quality_orders_within_a_level() {
    let out = run(&world(), &[small("web", 3)], &[], &Params::default());
    // One per continent, each the best of its continent.
    assert_eq!(out.placements[0].nodes, vec!["de1", "us1", "jp1"]);
    let out = run(&world(), &[small("web", 5)], &[], &Params::default());
    // Then new countries (FR), then new regions (DE Bavaria beats US Ohio on quality).
    assert_eq!(
        out.placements[0].nodes,
        vec!["de1", "us1", "jp1", "fr1", "de3"]
    );
}

#[test]
fn node_already_running_the_app_gets_no_second_instance() {
    let running = [Running::new("web", "de1")];
    let out = run(&world(), &[small("web", 3)], &running, &Params::default());
    assert_eq!(out.placements[0].keep, vec!["de1"]);
    assert!(!out.placements[0].nodes.contains(&"de1".to_string()));
    assert_eq!(out.placements[0].nodes.len(), 2);
}

#[test]
fn healed_partition_keeps_the_best_spread_and_stops_the_rest() {
    let running: Vec<Running> = ["de1", "de2", "de3", "us1", "us2"]
        .iter()
        .map(|n| Running::new("web", *n))
        .collect();
    let out = run(&world(), &[small("web", 3)], &running, &Params::default());
    assert!(
        out.placements[0].nodes.is_empty(),
        "no churn: nothing new placed"
    );
    let mut kept = out.placements[0].keep.clone();
    kept.sort();
    // Two continents, three countries impossible (only DE and US run), so the third
    // keeper adds a region: de1 (best DE), us1 (best US), de3 (new region) over us2.
    assert_eq!(kept, vec!["de1", "de3", "us1"]);
    let stopped: Vec<&str> = out.stop.iter().map(|s| s.node.as_str()).collect();
    assert_eq!(stopped, vec!["de2", "us2"]);
}

#[test]
fn instances_on_dead_nodes_are_replaced_and_the_survivors_kept() {
    // "gone" is not in the node list any more.
    let running = [Running::new("web", "gone"), Running::new("web", "us2")];
    let out = run(&world(), &[small("web", 3)], &running, &Params::default());
    assert_eq!(out.placements[0].keep, vec!["us2"]);
    // NA already covered by us2: new picks cover EU and AS first.
    assert_eq!(out.placements[0].nodes, vec!["de1", "jp1"]);
    assert!(out.stop.is_empty());
}

#[test]
fn instance_on_a_node_the_spec_now_excludes_moves() {
    let app = small("web", 2).with_geolocation(&["acEU"]);
    let running = [Running::new("web", "us1"), Running::new("web", "fr1")];
    let out = run(&world(), &[app], &running, &Params::default());
    assert_eq!(out.placements[0].keep, vec!["fr1"]);
    assert_eq!(out.placements[0].nodes, vec!["de1"]);
    assert_eq!(out.stop.len(), 1);
    assert!(
        out.stop[0].reason.contains("geolocation"),
        "{}",
        out.stop[0].reason
    );
}

#[test]
fn older_registrations_get_scarce_capacity_whatever_the_list_order() {
    // One node with room for one 4-core app.
    let mut only = node("solo", "EU_DE_Hesse", 500.0);
    only.total = Resources::new(5.0, 32_000, 440);
    let big =
        |name: &str, h: u64| AppDemand::new(name, 1, Resources::new(4.0, 1_000, 10)).with_height(h);
    let apps = [big("zeta", 10), big("alpha", 20)];
    let out = run(&[only], &apps, &[], &Params::default());
    assert_eq!(out.placements[0].app, "zeta");
    assert_eq!(out.placements[0].nodes, vec!["solo"]);
    assert_eq!(out.unplaced.len(), 1);
    assert_eq!(out.unplaced[0].app, "alpha");
    assert!(
        out.unplaced[0].reason.contains("insufficient cpu"),
        "{}",
        out.unplaced[0].reason
    );
}

#[test]
fn running_instances_consume_capacity_when_not_in_used() {
    let mut only = node("solo", "EU_DE_Hesse", 500.0);
    only.total = Resources::new(3.0, 32_000, 440); // 2 cores free after the reserve
    let a = AppDemand::new("a", 1, Resources::new(1.5, 100, 1));
    let b = AppDemand::new("b", 1, Resources::new(1.0, 100, 1)).with_height(1);
    let running = [Running::new("a", "solo")];
    let counted = run(
        &[only.clone()],
        &[a.clone(), b.clone()],
        &running,
        &Params::default(),
    );
    assert_eq!(counted.placements[1].nodes, vec!["solo"]);
    let p = Params {
        running_counted_in_used: false,
        ..Params::default()
    };
    let subtracted = run(&[only], &[a, b], &running, &p);
    assert!(subtracted.placements[1].nodes.is_empty());
}

#[test]
fn equal_nodes_share_apps_through_the_hash_tie_break() {
    let nodes = [
        node("a", "EU_DE_Hesse", 500.0),
        node("b", "EU_DE_Hesse", 500.0),
    ];
    let apps: Vec<AppDemand> = (0..40)
        .map(|i| AppDemand::new(format!("app{i:02}"), 1, Resources::new(0.1, 10, 1)))
        .collect();
    let out = run(&nodes, &apps, &[], &Params::default());
    let on_a = out.placements.iter().filter(|p| p.nodes == ["a"]).count();
    assert!((8..=32).contains(&on_a), "{on_a} of 40 on node a");
}

#[test]
fn expiry_stops_new_placements_then_removes() {
    let app = small("web", 2).with_height(1_000).with_expire(100);
    let running = [Running::new("web", "de1")];
    let at = |h| Params {
        height: Some(h),
        ..Params::default()
    };
    let live = run(&world(), std::slice::from_ref(&app), &running, &at(1_099));
    assert_eq!(live.placements[0].nodes.len(), 1);
    let expired = run(&world(), std::slice::from_ref(&app), &running, &at(1_100));
    assert!(expired.placements[0].nodes.is_empty());
    assert_eq!(
        expired.placements[0].keep,
        vec!["de1"],
        "kept through the grace"
    );
    assert!(
        expired.unplaced[0]
            .reason
            .contains("expired at height 1100")
    );
    let grace_end = 1_100 + scheduler::expiry::GRACE_BLOCKS;
    let still = run(
        &world(),
        std::slice::from_ref(&app),
        &running,
        &at(grace_end - 1),
    );
    assert!(still.stop.is_empty());
    let removed = run(&world(), &[app], &running, &at(grace_end));
    assert_eq!(removed.stop.len(), 1);
    assert!(removed.stop[0].reason.contains("removal height"));
}

#[test]
fn duplicates_are_refused() {
    let mut nodes = world();
    nodes.push(node("de1", "EU_DE_Hesse", 1.0));
    assert_eq!(
        schedule(&nodes, &[small("a", 1)], &[], &Params::default()),
        Err(InputError::DuplicateNode("de1".into()))
    );
    assert_eq!(
        schedule(
            &world(),
            &[small("a", 1), small("a", 2)],
            &[],
            &Params::default()
        ),
        Err(InputError::DuplicateApp("a".into()))
    );
}

#[test]
fn explain_names_the_reason_or_the_winner() {
    let nodes = world();
    let mut low = node("cum", "EU_DE_Hesse", 9_999.0);
    low.tier = Tier::Cumulus;
    let mut nodes_plus = nodes.clone();
    nodes_plus.push(low);
    let app = AppDemand::new("db", 3, Resources::new(4.0, 8_000, 100));
    let p = Params::default();
    let ex =
        |node: &str| explain(&nodes_plus, std::slice::from_ref(&app), &[], &p, "db", node).unwrap();
    assert_eq!(
        ex("de1"),
        Explanation::Placed {
            level: Level::Continent
        }
    );
    assert_eq!(
        ex("cum"),
        Explanation::Ineligible(Ineligible::TierTooLow {
            node: Tier::Cumulus,
            required: Tier::Nimbus
        })
    );
    match ex("de2") {
        Explanation::Lost {
            level: Level::Quality,
            winner,
            ..
        } => assert_eq!(winner, "de1"),
        other => panic!("de2: {other}"),
    }
    // fr1 is in an uncovered country of a covered continent; all three slots went to
    // continent picks, the weakest being jp1.
    match ex("fr1") {
        Explanation::Lost {
            level: Level::Country,
            winner,
            ..
        } => assert_eq!(winner, "jp1"),
        other => panic!("fr1: {other}"),
    }
    assert!(ex("fr1").to_string().contains("jp1"));
    assert_eq!(
        explain(
            &nodes_plus,
            std::slice::from_ref(&app),
            &[],
            &p,
            "db",
            "nope"
        ),
        Err(ExplainError::UnknownNode("nope".into()))
    );
}

#[test]
fn explain_sees_capacity_used_by_earlier_apps() {
    let mut only = node("solo", "EU_DE_Hesse", 500.0);
    only.total = Resources::new(5.0, 32_000, 440);
    let first = AppDemand::new("first", 1, Resources::new(4.0, 1_000, 10));
    let second = AppDemand::new("second", 1, Resources::new(1.0, 1_000, 10)).with_height(5);
    let r = explain(
        &[only],
        &[first, second],
        &[],
        &Params::default(),
        "second",
        "solo",
    )
    .unwrap();
    assert!(
        matches!(
            r,
            Explanation::Ineligible(Ineligible::InsufficientCapacity { .. })
        ),
        "{r}"
    );
}

#[test]
fn explain_reports_stops() {
    let running: Vec<Running> = ["de1", "de2"]
        .iter()
        .map(|n| Running::new("web", *n))
        .collect();
    let r = explain(
        &world(),
        &[small("web", 1)],
        &running,
        &Params::default(),
        "web",
        "de2",
    )
    .unwrap();
    assert_eq!(r, Explanation::Stopped(StopReason::Extra { instances: 1 }));
}

#[test]
fn check_catches_tampered_outputs() {
    let nodes = world();
    let apps = [AppDemand::new("fat", 1, Resources::new(6.0, 1_000, 10))];
    let p = Params::default();
    let mut out = run(&nodes, &apps, &[], &p);
    out.placements[0].nodes = vec!["de1".into(), "de1".into()];
    assert!(matches!(
        invariants::check(&nodes, &apps, &[], &p, &out),
        Err(Violation::TwoInstancesOnOneNode { .. })
    ));
    // Two 6-core apps on one 8-core node (7 free after the reserve).
    let apps2 = [
        AppDemand::new("fat", 1, Resources::new(6.0, 1_000, 10)),
        AppDemand::new("fat2", 1, Resources::new(6.0, 1_000, 10)),
    ];
    let mut out2 = run(&nodes, &apps2, &[], &p);
    out2.placements[0].nodes = vec!["de1".into()];
    out2.placements[1].nodes = vec!["de1".into()];
    assert!(matches!(
        invariants::check(&nodes, &apps2, &[], &p, &out2),
        Err(Violation::Overcommit { .. })
    ));
}

#[test]
fn comparable_nodes_share_single_instance_apps() {
    // 20 nodes of one kind whose benchmarks differ only by noise (70–99, as measured on
    // one testnet), 4 GB and 2 cores offered, some already a little loaded; 30
    // single-instance apps. Ranking on the exact score sent every app to the top node until
    // it was full; quality classes plus the free share spread them.
    let nodes: Vec<NodeInfo> = (0..20)
        .map(|i| NodeInfo {
            total: Resources::new(3.0, 6_000, 100),
            used: Resources::new(0.0, (i % 3) * 100, 0),
            ..node(
                &format!("n{i:02}"),
                "EU_DE_Hesse",
                70.0 + (i * 29 / 19) as f64,
            )
        })
        .collect();
    let apps: Vec<AppDemand> = (0..30)
        .map(|i| AppDemand::new(format!("app{i}"), 1, Resources::new(0.1, 64, 1)))
        .collect();
    let out = run(&nodes, &apps, &[], &Params::default());
    let mut per_node = std::collections::BTreeMap::<&str, usize>::new();
    for p in &out.placements {
        assert_eq!(p.nodes.len(), 1, "{p:?}");
        *per_node.entry(p.nodes[0].as_str()).or_default() += 1;
    }
    assert!(
        per_node.len() >= 15,
        "only {} nodes used: {per_node:?}",
        per_node.len()
    );
    assert!(per_node.values().all(|&n| n <= 2), "{per_node:?}");

    // A node a whole class better still takes the app first.
    let mut fast = nodes.clone();
    fast[7].bench_score = 400.0;
    let out = run(&fast, &apps[..1], &[], &Params::default());
    assert_eq!(out.placements[0].nodes, vec!["n07"]);
}
