//! Random small inputs for the property tests, built from a seed so any failure can be
//! replayed from the seed alone.
#![allow(dead_code)]

use proto::tier::{Resources, Tier};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scheduler::{AppDemand, NodeInfo, Params, Running};

/// Two continents with two countries of two regions each, plus a lone one, so spread
/// levels differ in size and small node sets still have real choices.
pub const LOCATIONS: &[&str] = &[
    "EU_DE_Hesse",
    "EU_DE_Bavaria",
    "EU_FR_Normandy",
    "EU_FR_Brittany",
    "NA_US_Texas",
    "NA_US_Ohio",
    "NA_CA_Quebec",
    "AS_JP_Tokyo",
];

const GEO_RULES: &[&[&str]] = &[
    &[],
    &[],
    &[],
    &["acEU"],
    &["a!cNA_US"],
    &["acEU_DE", "acNA"],
    &["acEU", "a!cEU_FR_Brittany"],
];

/// Few distinct values, so equal scores (hash tie-breaks) are common.
const BENCH: &[f64] = &[100.0, 250.0, 250.0, 400.0, 1_000.0];
const UPTIME: &[f64] = &[0.85, 0.9, 0.95, 1.0, 1.0];

pub fn node(rng: &mut ChaCha8Rng, i: usize) -> NodeInfo {
    let tier = Tier::ALL[rng.gen_range(0..3)];
    let cpu = [2.0, 4.0, 8.0][rng.gen_range(0..3)];
    let ram = [4_000, 8_000, 16_000][rng.gen_range(0..3)];
    let hdd = [80, 220, 500][rng.gen_range(0..3)];
    NodeInfo {
        id: format!("n{i}"),
        tier,
        geo: LOCATIONS[rng.gen_range(0..LOCATIONS.len())]
            .parse()
            .unwrap(),
        total: Resources::new(cpu, ram, hdd),
        used: Resources::new(
            f64::from(rng.gen_range(0..4u32)) * 0.5,
            rng.gen_range(0..3) * 1_000,
            rng.gen_range(0..3) * 20,
        ),
        bench_score: BENCH[rng.gen_range(0..BENCH.len())],
        uptime: UPTIME[rng.gen_range(0..UPTIME.len())],
    }
}

pub fn app(rng: &mut ChaCha8Rng, i: usize, node_count: usize) -> AppDemand {
    let resources = Resources::new(
        f64::from(rng.gen_range(1..=8u32)) * 0.25,
        rng.gen_range(1..=6) * 500,
        rng.gen_range(1..=6) * 10,
    );
    let mut a = AppDemand::new(format!("app{i}"), rng.gen_range(1..=6), resources)
        .with_geolocation(GEO_RULES[rng.gen_range(0..GEO_RULES.len())])
        .with_height(rng.gen_range(0..3));
    if node_count > 0 && rng.gen_bool(0.15) {
        let k = rng.gen_range(1..=node_count.min(6));
        a = a.with_nodes((0..k).map(|_| format!("n{}", rng.gen_range(0..node_count))));
    }
    a
}

pub struct Case {
    pub nodes: Vec<NodeInfo>,
    pub apps: Vec<AppDemand>,
    pub running: Vec<Running>,
    pub params: Params,
}

/// A random case with up to `max_nodes` nodes and `max_apps` apps, some instances
/// already running (at most 1.5 × instances per app, to exercise over-replication).
pub fn case(seed: u64, max_nodes: usize, max_apps: usize) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.gen_range(0..=max_nodes);
    let nodes: Vec<NodeInfo> = (0..n).map(|i| node(&mut rng, i)).collect();
    let m = rng.gen_range(1..=max_apps);
    let apps: Vec<AppDemand> = (0..m).map(|i| app(&mut rng, i, n)).collect();
    let mut running = Vec::new();
    if n > 0 && rng.gen_bool(0.5) {
        for a in &apps {
            let k = rng.gen_range(0..=(a.instances as usize * 3 / 2).min(n));
            let mut ids: Vec<usize> = (0..n).collect();
            ids.shuffle(&mut rng);
            for &i in ids.iter().take(k) {
                running.push(Running::new(a.name.clone(), format!("n{i}")));
            }
        }
    }
    let params = Params {
        running_counted_in_used: rng.gen_bool(0.7),
        ..Params::default()
    };
    Case {
        nodes,
        apps,
        running,
        params,
    }
}
