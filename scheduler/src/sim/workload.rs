//! Synthetic networks with the real Flux geography, shared by the placement benchmark and
//! the simulator.
//!
//! Nodes: `data/country-tier-census.csv` (FluxOS's own country × tier census of
//! 6,688 geolocated nodes, September 2026) scaled to N nodes by largest remainder, so every
//! country and tier keeps its share. The census has no regions; each country gets
//! min(fault domains, 16) synthetic regions with Zipf-like weights (a few big hosting
//! regions, a tail of small ones), the fault-domain count being the best public proxy for
//! how many distinct places a country's nodes sit in. Resources follow the tier,
//! benchmark scores lie in ranges around the tier minimums, uptime is mostly above 0.97
//! with a 5 % unreliable tail.
//!
//! Apps: 3–12 instances; 70 % small, 25 % up to the Cumulus caps, 5 % Nimbus-sized; 30 %
//! carry geolocation entries (continent allow, country allow, or a deny).
//!
//! Everything is drawn from a seeded ChaCha RNG: the same seed gives the same workload.

use proto::geo::Location;
use proto::tier::{Resources, SYSTEM_RESERVE, Tier};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{AppDemand, NodeInfo};

const CENSUS: &str = include_str!("../../data/country-tier-census.csv");
const MAX_REGIONS_PER_COUNTRY: usize = 16;

struct Row {
    continent: String,
    country: String,
    tier: Tier,
    nodes: usize,
    fault_domains: usize,
}

/// The census rows; malformed lines are skipped (the file is fixed and tested).
fn census() -> Vec<Row> {
    CENSUS
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(',').collect();
            if f.len() != 5 {
                return None;
            }
            Some(Row {
                continent: f[0].to_string(),
                country: f[1].to_string(),
                tier: f[2].parse().ok()?,
                nodes: f[3].parse().ok()?,
                fault_domains: f[4].parse().ok()?,
            })
        })
        .collect()
}

/// Node counts per census row summing exactly to `n` (largest remainder).
fn apportion(rows: &[Row], n: usize) -> Vec<usize> {
    let total: usize = rows.iter().map(|r| r.nodes).sum::<usize>().max(1);
    let exact: Vec<f64> = rows
        .iter()
        .map(|r| r.nodes as f64 * n as f64 / total as f64)
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    let short = n.saturating_sub(counts.iter().sum::<usize>());
    for &i in order.iter().take(short) {
        counts[i] += 1;
    }
    counts
}

/// `n` nodes with census geography. Ids are `id_of(index)`; `used` is the non-app load.
pub fn nodes(n: usize, seed: u64, id_of: impl Fn(usize) -> String) -> Vec<NodeInfo> {
    let rows = census();
    let counts = apportion(&rows, n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    for (row, &count) in rows.iter().zip(&counts) {
        let regions = row.fault_domains.clamp(1, MAX_REGIONS_PER_COUNTRY);
        // Zipf weights 1, 1/2, 1/3, ...
        let weights: Vec<f64> = (1..=regions).map(|j| 1.0 / j as f64).collect();
        let sum: f64 = weights.iter().sum();
        for _ in 0..count {
            let mut x = rng.gen_range(0.0..sum);
            let mut region = 0;
            while region + 1 < regions && x >= weights[region] {
                x -= weights[region];
                region += 1;
            }
            let (total, bench) = match row.tier {
                Tier::Cumulus => (
                    Resources::new(4.0, 8_000, 220),
                    rng.gen_range(240.0..1_800.0),
                ),
                Tier::Nimbus => (
                    Resources::new(8.0, 32_000, 440),
                    rng.gen_range(640.0..3_000.0),
                ),
                Tier::Stratus => (
                    Resources::new(16.0, 64_000, 880),
                    rng.gen_range(1_520.0..6_000.0),
                ),
            };
            let load = rng.gen_range(0.0..0.4);
            let usable = total.saturating_sub(&SYSTEM_RESERVE);
            let used = Resources::new(
                (usable.cpu * load * 10.0).round() / 10.0,
                (usable.ram as f64 * load) as u64,
                (usable.hdd as f64 * load) as u64,
            );
            let uptime = match rng.gen_range(0..100) {
                0..85 => rng.gen_range(0.97..=1.0),
                85..95 => rng.gen_range(0.9..0.97),
                _ => rng.gen_range(0.5..0.9),
            };
            let geo = format!("{}_{}_R{:02}", row.continent, row.country, region + 1);
            let Ok(geo) = geo.parse::<Location>() else {
                continue;
            };
            out.push(NodeInfo {
                id: id_of(out.len()),
                tier: row.tier,
                geo,
                total,
                used,
                bench_score: (bench * 100.0_f64).round() / 100.0,
                uptime: (uptime * 1_000.0_f64).round() / 1_000.0,
            });
        }
    }
    out
}

/// `m` apps named `app0000`..., registered at a height in `heights`.
pub fn apps(m: usize, seed: u64, heights: std::ops::Range<u64>) -> Vec<AppDemand> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..m)
        .map(|i| {
            let resources = match rng.gen_range(0..100) {
                0..70 => Resources::new(
                    f64::from(rng.gen_range(1..=10u32)) / 10.0,
                    rng.gen_range(1..=20) * 100,
                    rng.gen_range(1..=20),
                ),
                70..95 => Resources::new(
                    f64::from(rng.gen_range(10..=30u32)) / 10.0,
                    rng.gen_range(20..=50) * 100,
                    rng.gen_range(20..=150),
                ),
                _ => Resources::new(
                    f64::from(rng.gen_range(35..=60u32)) / 10.0,
                    rng.gen_range(80..=200) * 100,
                    rng.gen_range(100..=300),
                ),
            };
            let geo: &[&str] = match rng.gen_range(0..100) {
                0..70 => &[],
                70..85 => &["acEU"],
                85..90 => &["acNA"],
                90..93 => &["acEU_DE"],
                93..95 => &["acEU_FR", "acEU_NL"],
                _ => &["a!cNA_US"],
            };
            let height = if heights.is_empty() {
                heights.start
            } else {
                rng.gen_range(heights.clone())
            };
            AppDemand::new(format!("app{i:04}"), rng.gen_range(3..=12), resources)
                .with_geolocation(geo)
                .with_height(height)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn census_scales_to_exactly_n_nodes_with_unique_ids() {
        let rows = census();
        assert_eq!(rows.len(), 114, "every census line parses");
        for n in [1, 200, 10_000] {
            let ns = nodes(n, 7, |i| format!("n{i}"));
            assert_eq!(ns.len(), n);
            let mut ids: Vec<&str> = ns.iter().map(|n| n.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n);
        }
        assert_eq!(
            nodes(300, 1, |i| i.to_string()),
            nodes(300, 1, |i| i.to_string())
        );
    }
}
