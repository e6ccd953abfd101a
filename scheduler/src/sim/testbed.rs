//! The `testbed` shape: the network `scripts/scale.sh` runs on one machine, so the
//! simulator can predict it. Every node is the same host seen by another daemon (2 cores,
//! 23 GB, 250 GB; the tier its benchmark earns under the testnet profile), with the
//! benchmark scores 20 daemons sharing two cores measured (115–245), full uptime (all new), no other
//! load, and the geolocations `scale.sh` gives its nodes in turn. Every app is the
//! smallest Flux app (0.1 core, 100 MB, 1 GB), unconstrained, with the same instance count.

use proto::geo::Location;
use proto::tier::{Resources, Tier};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::model::{AppDemand, NodeInfo};

/// Geolocations of node 1, 2, … in turn (`scripts/lib/scale.sh`'s `SC_GEOS`).
pub const GEOS: [&str; 5] = ["EU_DE_HE", "NA_US_CA", "AS_JP_13", "EU_FR_IDF", "OC_AU_NSW"];

/// Which network and apps the simulator builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// The Flux census geography and a mixed workload ([`super::workload`]).
    #[default]
    Census,
    /// `scripts/scale.sh`'s one-machine network: comparable nodes, smallest apps, each
    /// with this many instances.
    Testbed { instances: u32 },
}

/// `n` comparable nodes as `scale.sh` starts them.
pub fn nodes(n: usize, seed: u64, id_of: impl Fn(usize) -> String) -> Vec<NodeInfo> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| NodeInfo {
            id: id_of(i),
            tier: Tier::Stratus,
            geo: geo(GEOS[i % GEOS.len()]),
            total: Resources::new(2.0, 23_000, 250),
            used: Resources::default(),
            bench_score: (rng.gen_range(115.0..245.0_f64) * 100.0).round() / 100.0,
            uptime: 1.0,
        })
        .collect()
}

/// `CONT_CC_REGION` as a location (the constants above are well formed).
fn geo(text: &str) -> Location {
    let mut parts = text.splitn(3, '_');
    Location {
        continent: parts.next().unwrap_or_default().to_string(),
        country: parts.next().unwrap_or_default().to_string(),
        region: parts.next().unwrap_or_default().to_string(),
    }
}

/// `m` smallest apps of `instances` instances each, named `app0000`….
pub fn apps(m: usize, instances: u32, height: u64) -> Vec<AppDemand> {
    (0..m)
        .map(|i| {
            AppDemand::new(format!("app{i:04}"), instances, Resources::new(0.1, 100, 1))
                .with_height(height)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testbed_nodes_are_comparable_and_apps_uniform() {
        let ns = nodes(20, 1, |i| i.to_string());
        assert_eq!(ns.len(), 20);
        assert!(
            ns.iter()
                .all(|n| n.tier == Tier::Stratus && n.uptime == 1.0)
        );
        let (lo, hi) = ns.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), n| {
            (lo.min(n.bench_score), hi.max(n.bench_score))
        });
        assert!(lo >= 115.0 && hi < 245.0, "{lo}..{hi}");
        assert_eq!(ns[5].geo, ns[0].geo);
        for g in GEOS {
            assert_eq!(geo(g), g.parse::<Location>().unwrap(), "{g}");
        }
        let apps = apps(30, 1, 7);
        assert!(apps.iter().all(|a| a.instances == 1 && a.height == 7));
    }
}
