//! Node quality for one app: the order in which equally-spread nodes win.
//!
//! ```text
//! quality  = round(uptime × 10⁴) × round(bench_score × 10²)      (exact u64 product)
//! below    = floor(log₂ best − log₂ quality)   — whole octaves below the best node ranked
//! class    = 64 − below                  (0 when quality is 0)      — one class per octave
//! free %   = (free cpu / allocatable cpu + free ram / allocatable ram) / 2, in whole percent
//! score    = class × 101 + free %
//! tiebreak = first 8 bytes, big-endian, of SHA-256(app name ‖ 0x00 ‖ node id)
//! key      = (score, tiebreak)   — greater is better; derived `Ord`, field order = priority
//! ```
//!
//! - The product `uptime × bench_score` rewards a node that is both fast and reliably
//!   present: a node up 50 % of the time delivers half its benchmark to the app.
//! - Quality counts in coarse classes, one per doubling: benchmark runs of one machine vary
//!   by tens of percent (70–99 events/s on one testnet), and ranking on the exact product
//!   sent every app to whichever node measured highest until it was full. Within a class
//!   nodes are comparable, and the one with the larger share of its capacity free wins —
//!   Kubernetes' `LeastAllocated` scoring (NodeResourcesFit), Nomad's `spread` algorithm as
//!   opposed to its default bin-packing. Each placement lowers the winner's free share, so
//!   the next app goes to another comparable node: load spreads, and one failure takes
//!   fewer apps down. A node a whole class faster still wins over any free share.
//! - Classes are counted down from the best node of the set being ranked (every node within
//!   2× of it is in the top class), not at fixed powers of two: with fixed octaves two nodes
//!   1 % apart on either side of a power of two were a whole class apart, and 20 daemons on
//!   one machine whose benchmarks (115–245) straddled 2²⁷ put 30 apps on 5 nodes
//!   (`fluxnode sim --shape testbed`, `scripts/scale.sh`). Anchored at the best, the only
//!   step is at half the best's quality, which is what "a class slower" means.
//! - Every term is an integer computed from quantised inputs (uptime to 1/10,000, bench
//!   score to 1/100, capacity in millicores and MB), so two machines that parsed the same
//!   decimal inputs agree bit for bit, and float noise (0.1 + 0.2) can never flip an order.
//! - Equal scores are common (identical hosts from one provider, equally loaded). Breaking
//!   them by the hash of (app, node) spreads different apps over different equal nodes,
//!   where breaking by node id would pile every app onto the lowest id.
//! - In the astronomically unlikely case of equal hashes, the smaller node id wins, so the
//!   order is total and never depends on input order.

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

use crate::model::{Capacity, NodeInfo};

/// Uptime is quantised to 1/10,000.
pub const UPTIME_QUANTA: f64 = 10_000.0;
/// Bench score is quantised to 1/100.
pub const BENCH_QUANTA: f64 = 100.0;
/// Bench scores are clamped here (10¹² events/s is far above any machine) so the product
/// stays within u64: 10⁴ × 10¹⁴ = 10¹⁸ < 1.8 × 10¹⁹.
pub const BENCH_SCORE_MAX: f64 = 1e12;

/// The quality of a node for an app. Greater is better; fields compare in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualityKey {
    /// Quality class and free share, see [`score`].
    pub score: u64,
    /// Hash of (app name, node id), see [`tiebreak`].
    pub tiebreak: u64,
}

impl QualityKey {
    /// The key of node `node_id` with the given [`score`].
    pub fn new(app: &str, node_id: &str, score: u64) -> Self {
        Self {
            score,
            tiebreak: tiebreak(app, node_id),
        }
    }
}

/// `round(uptime × 10⁴) × round(bench_score × 10²)`, with uptime clamped to `[0, 1]` and
/// bench score to `[0, 10¹²]`. NaN counts as 0.
pub fn quality(uptime: f64, bench_score: f64) -> u64 {
    let u = (uptime.clamp(0.0, 1.0) * UPTIME_QUANTA).round() as u64;
    let b = (bench_score.clamp(0.0, BENCH_SCORE_MAX) * BENCH_QUANTA).round() as u64;
    u.saturating_mul(b)
}

/// `1 + floor(log₂ quality)`, 0 for quality 0: nodes within a factor of two of each other
/// usually share a class (always, when they lie within one power of two).
pub fn quality_class(uptime: f64, bench_score: f64) -> u64 {
    let q = quality(uptime, bench_score);
    u64::from(u64::BITS - q.leading_zeros())
}

/// Free share of a node in whole percent: the mean of its free CPU and free RAM as shares
/// of what it offers to apps (Kubernetes' `LeastAllocated` over the two resources that
/// limit placements; disk is left out as it is rarely the limit and would dilute them).
/// A dimension with nothing to offer counts as 0 % free.
pub fn free_percent(free: Capacity, allocatable: Capacity) -> u64 {
    let share = |f: u64, a: u64| f.min(a).saturating_mul(100).checked_div(a).unwrap_or(0);
    (share(free.cpu_milli, allocatable.cpu_milli) + share(free.ram_mb, allocatable.ram_mb)) / 2
}

/// Steps of [`free_percent`] per quality class: 0..=100.
pub const FREE_STEPS: u64 = 101;

/// Classes a node can be below the best (quality is a u64: at most 64 octaves).
const TOP_CLASS: u64 = 64;

/// Fractional bits of [`log2_fixed`].
const LOG_BITS: u32 = 16;

/// `⌊log₂ q × 2¹⁶⌋` for `q ≥ 1` (0 for 0), in integers only (repeated squaring of the
/// mantissa), so every machine computes the same value.
pub fn log2_fixed(q: u64) -> u64 {
    if q == 0 {
        return 0;
    }
    let int = u64::from(63 - q.leading_zeros());
    // The mantissa in [1, 2) with 62 fractional bits.
    let mut x: u128 = if int >= 62 {
        u128::from(q >> (int - 62))
    } else {
        u128::from(q) << (62 - int)
    };
    let mut frac = 0u64;
    for _ in 0..LOG_BITS {
        x = (x * x) >> 62;
        frac <<= 1;
        if x >= 1u128 << 63 {
            x >>= 1;
            frac |= 1;
        }
    }
    (int << LOG_BITS) | frac
}

/// The class of a node of quality `q` when the best node ranked has quality `best`:
/// [`TOP_CLASS`] within 2× of the best, one less per further octave below; 0 for
/// quality 0.
pub fn relative_class(q: u64, best: u64) -> u64 {
    if q == 0 {
        return 0;
    }
    let below = log2_fixed(best.max(q)).saturating_sub(log2_fixed(q)) >> LOG_BITS;
    TOP_CLASS.saturating_sub(below).max(1)
}

/// The ranking score: quality class (relative to the best quality `best` of the nodes
/// ranked) first, then free share.
pub fn score(
    uptime: f64,
    bench_score: f64,
    best: u64,
    free: Capacity,
    allocatable: Capacity,
) -> u64 {
    relative_class(quality(uptime, bench_score), best)
        .saturating_mul(FREE_STEPS)
        .saturating_add(free_percent(free, allocatable))
}

/// [`score`] of a node with `free` capacity left, among nodes whose best quality is `best`.
pub fn node_score(n: &NodeInfo, best: u64, free: Capacity) -> u64 {
    score(n.uptime, n.bench_score, best, free, n.allocatable())
}

/// The best [`quality`] of `nodes` (0 for none).
pub fn best_quality(nodes: &[NodeInfo]) -> u64 {
    nodes
        .iter()
        .map(|n| quality(n.uptime, n.bench_score))
        .max()
        .unwrap_or(0)
}

/// First 8 bytes (big-endian) of SHA-256(app ‖ 0x00 ‖ node id). The separator keeps
/// ("ab", "c") and ("a", "bc") apart.
pub fn tiebreak(app: &str, node_id: &str) -> u64 {
    Ranker::new(app).tiebreak(node_id)
}

/// Compares two nodes for one app with the score already known, hashing only when the
/// scores are equal (most comparisons never need the hash). `Greater` = `a` is better.
#[derive(Debug, Clone)]
pub struct Ranker {
    prefix: Sha256,
}

impl Ranker {
    pub fn new(app: &str) -> Self {
        let mut prefix = Sha256::new();
        prefix.update(app.as_bytes());
        prefix.update([0u8]);
        Self { prefix }
    }

    pub fn tiebreak(&self, node_id: &str) -> u64 {
        let digest = self
            .prefix
            .clone()
            .chain_update(node_id.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    pub fn key(&self, node_id: &str, score: u64) -> QualityKey {
        QualityKey {
            score,
            tiebreak: self.tiebreak(node_id),
        }
    }

    /// The total order on nodes: score, then hash, then the smaller id.
    pub fn cmp(&self, a_score: u64, a_id: &str, b_score: u64, b_id: &str) -> Ordering {
        a_score.cmp(&b_score).then_with(|| {
            if a_id == b_id {
                return Ordering::Equal;
            }
            self.tiebreak(a_id)
                .cmp(&self.tiebreak(b_id))
                .then_with(|| b_id.cmp(a_id))
        })
    }
}

/// The same total order on precomputed keys: key, then the smaller id. `Greater` = better.
pub fn cmp_keyed(a: QualityKey, a_id: &str, b: QualityKey, b_id: &str) -> Ordering {
    a.cmp(&b).then_with(|| b_id.cmp(a_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_is_exact_and_immune_to_float_noise() {
        assert_eq!(quality(0.997, 812.5), 9_970 * 81_250);
        // 0.1 + 0.2 = 0.30000000000000004 must score like 0.3.
        assert_eq!(quality(0.1 + 0.2, 1000.0), quality(0.3, 1000.0));
        assert_eq!(quality(1.0, 100.004), quality(1.0, 100.0));
        assert_eq!(quality(f64::NAN, 5.0), 0);
        assert_eq!(quality(2.0, 1.0), quality(1.0, 1.0), "uptime clamps to 1");
        assert_eq!(quality(1.0, f64::INFINITY), quality(1.0, BENCH_SCORE_MAX));
    }

    #[test]
    fn classes_are_octaves() {
        assert_eq!(quality_class(0.0, 100.0), 0);
        // Benchmark noise of one testnet machine: one class.
        assert_eq!(quality_class(1.0, 70.0), quality_class(0.99, 99.0));
        assert!(quality_class(1.0, 300.0) > quality_class(1.0, 99.0));
        // quality = 1 → class 1; 2..3 → 2; 4..7 → 3.
        assert_eq!(quality_class(0.0001, 0.01), 1);
        assert_eq!(quality_class(0.0001, 0.03), 2);
        assert_eq!(quality_class(0.0001, 0.04), 3);
    }

    #[test]
    fn free_share_is_least_allocated() {
        let cap = |cpu, ram| Capacity {
            cpu_milli: cpu,
            ram_mb: ram,
            hdd_gb: 0,
        };
        let alloc = cap(4_000, 8_000);
        assert_eq!(free_percent(alloc, alloc), 100);
        assert_eq!(free_percent(cap(2_000, 8_000), alloc), 75);
        assert_eq!(free_percent(cap(0, 0), alloc), 0);
        assert_eq!(
            free_percent(cap(9_000, 9_000), alloc),
            100,
            "never above 100"
        );
        assert_eq!(free_percent(cap(1, 1), cap(0, 0)), 0);
        // A class outranks any free share; within a class the freer node wins.
        let best = quality(1.0, 300.0);
        let full = score(1.0, 300.0, best, cap(0, 0), alloc);
        let empty = score(1.0, 99.0, best, alloc, alloc);
        assert!(full > empty);
        let best = quality(1.0, 99.0);
        assert!(
            score(1.0, 70.0, best, alloc, alloc) > score(1.0, 99.0, best, cap(3_900, 7_900), alloc)
        );
    }

    #[test]
    fn classes_count_down_from_the_best_node() {
        assert_eq!(log2_fixed(1), 0);
        assert_eq!(log2_fixed(2), 1 << 16);
        assert_eq!(log2_fixed(1 << 40), 40 << 16);
        // log₂ 3 = 1.5849625…
        assert_eq!(log2_fixed(3), 103_872);
        assert_eq!(log2_fixed(u64::MAX) >> 16, 63);
        // Benchmarks straddling 2²⁷ (134.2 with full uptime) but within 2× of the best:
        // one class, whereas fixed octaves split them.
        let best = quality(1.0, 245.0);
        let (lo, hi) = (quality(1.0, 134.0), quality(1.0, 135.0));
        assert_ne!(quality_class(1.0, 134.0), quality_class(1.0, 135.0));
        assert_eq!(relative_class(lo, best), relative_class(hi, best));
        assert_eq!(relative_class(quality(1.0, 123.0), best), TOP_CLASS);
        // More than 2× below the best: a class lower; 4× below, two.
        assert_eq!(relative_class(quality(1.0, 122.0), best), TOP_CLASS - 1);
        assert_eq!(relative_class(quality(1.0, 61.0), best), TOP_CLASS - 2);
        assert_eq!(relative_class(0, best), 0);
        assert_eq!(
            relative_class(best, 0),
            TOP_CLASS,
            "a best below q counts as q"
        );
    }

    #[test]
    fn key_orders_by_score_before_hash() {
        let low = QualityKey {
            score: 1,
            tiebreak: u64::MAX,
        };
        let high = QualityKey {
            score: 2,
            tiebreak: 0,
        };
        assert!(high > low);
    }

    #[test]
    fn ties_are_broken_differently_per_app() {
        // With equal scores, the winner between two nodes depends on the app: over many
        // apps each node wins roughly half the time.
        let wins = (0..1_000)
            .filter(|i| {
                Ranker::new(&format!("app{i}")).cmp(5, "node-a", 5, "node-b") == Ordering::Greater
            })
            .count();
        assert!((400..=600).contains(&wins), "node-a won {wins} of 1000");
    }

    #[test]
    fn lazy_and_keyed_orders_agree() {
        let r = Ranker::new("web");
        for (a, b) in [("n1", "n2"), ("x", "y"), ("n2", "n1")] {
            let lazy = r.cmp(7, a, 7, b);
            let keyed = cmp_keyed(r.key(a, 7), a, r.key(b, 7), b);
            assert_eq!(lazy, keyed);
            assert_eq!(r.key(a, 7).tiebreak, tiebreak("web", a));
        }
        assert_eq!(r.cmp(7, "n1", 7, "n1"), Ordering::Equal);
        assert_ne!(tiebreak("ab", "c"), tiebreak("a", "bc"));
    }
}
