//! Node quality for one app: the order in which equally-spread nodes win.
//!
//! ```text
//! score    = round(uptime × 10⁴) × round(bench_score × 10²)      (exact u64 product)
//! tiebreak = first 8 bytes, big-endian, of SHA-256(app name ‖ 0x00 ‖ node id)
//! key      = (score, tiebreak)   — greater is better; derived `Ord`, field order = priority
//! ```
//!
//! - The product `uptime × bench_score` rewards a node that is both fast and reliably
//!   present: a node up 50 % of the time delivers half its benchmark to the app.
//! - Each factor is quantised before multiplying (uptime to 1/10,000, bench score to 1/100)
//!   and the product is taken in integers, so two machines that parsed the same decimal
//!   inputs agree bit for bit, and float noise (0.1 + 0.2) can never flip an order. The
//!   quanta are far below what the inputs can tell apart: uptime comes from counting
//!   heartbeats, bench scores from a benchmark that varies by a few percent between runs.
//! - Equal scores are common (identical hosts from one provider). Breaking them by the
//!   hash of (app, node) spreads different apps over different equal nodes, where breaking
//!   by node id would pile every app onto the lowest id.
//! - In the astronomically unlikely case of equal hashes, the smaller node id wins, so the
//!   order is total and never depends on input order.

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

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
    /// Quantised `uptime × bench_score`, see [`score`].
    pub score: u64,
    /// Hash of (app name, node id), see [`tiebreak`].
    pub tiebreak: u64,
}

impl QualityKey {
    pub fn new(app: &str, node_id: &str, uptime: f64, bench_score: f64) -> Self {
        Self {
            score: score(uptime, bench_score),
            tiebreak: tiebreak(app, node_id),
        }
    }
}

/// `round(uptime × 10⁴) × round(bench_score × 10²)`, with uptime clamped to `[0, 1]` and
/// bench score to `[0, 10¹²]`. NaN counts as 0.
pub fn score(uptime: f64, bench_score: f64) -> u64 {
    let u = (uptime.clamp(0.0, 1.0) * UPTIME_QUANTA).round() as u64;
    let b = (bench_score.clamp(0.0, BENCH_SCORE_MAX) * BENCH_QUANTA).round() as u64;
    u.saturating_mul(b)
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
    fn score_is_exact_and_immune_to_float_noise() {
        assert_eq!(score(0.997, 812.5), 9_970 * 81_250);
        // 0.1 + 0.2 = 0.30000000000000004 must score like 0.3.
        assert_eq!(score(0.1 + 0.2, 1000.0), score(0.3, 1000.0));
        assert_eq!(score(1.0, 100.004), score(1.0, 100.0));
        assert_eq!(score(f64::NAN, 5.0), 0);
        assert_eq!(score(2.0, 1.0), score(1.0, 1.0), "uptime clamps to 1");
        assert_eq!(score(1.0, f64::INFINITY), score(1.0, BENCH_SCORE_MAX));
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
