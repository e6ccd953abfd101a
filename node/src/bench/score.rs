//! `bench_score`: one number for the scheduler's node-quality ranking.
//!
//! ```text
//! bench_score = 100 × (eps / 240)^0.5
//!                   × (disk_write_mbs / 180)^0.3
//!                   × (random_write_iops / 1000)^0.1
//!                   × (ram_copy_mbs / 10000)^0.1
//! ```
//!
//! A weighted geometric mean of each speed relative to a reference, so a machine exactly
//! at the references scores 100, doubling EPS multiplies the score by 2^0.5 ≈ 1.41 and
//! doubling disk write by 2^0.3 ≈ 1.23, and no single figure can make up for another one
//! being near zero. The weights follow what Flux's tiers check: CPU most, sequential disk
//! write next; random IOPS and RAM bandwidth only nudge. References: EPS and disk write are
//! the Cumulus minimums (240, 180 MB/s — always the mainnet ones, so scores compare across
//! networks); 1,000 IOPS is a modest cloud SSD at queue depth 1; 10,000 MB/s is one
//! DDR4 channel's copy bandwidth.
//!
//! Capacity (cores, RAM and disk size) is deliberately left out: the scheduler sees it in a
//! node's free resources, and the score is about how fast, not how big.

use proto::tier::CUMULUS_MIN;

/// Reference random-write IOPS (4 KiB, queue depth 1).
pub const IOPS_REF: f64 = 1_000.0;
/// Reference RAM copy bandwidth, MB/s.
pub const RAM_COPY_REF_MBS: f64 = 10_000.0;

const W_EPS: f64 = 0.5;
const W_DISK: f64 = 0.3;
const W_IOPS: f64 = 0.1;
const W_RAM: f64 = 0.1;

/// The figures the score is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreInputs {
    pub eps: f64,
    pub disk_write_mbs: f64,
    pub random_write_iops: f64,
    pub ram_copy_mbs: f64,
}

/// The score, rounded to one decimal. Zero, negative or NaN figures give 0.
pub fn bench_score(inputs: &ScoreInputs) -> f64 {
    let factors = [
        (inputs.eps, CUMULUS_MIN.eps, W_EPS),
        (inputs.disk_write_mbs, CUMULUS_MIN.disk_write_mbs, W_DISK),
        (inputs.random_write_iops, IOPS_REF, W_IOPS),
        (inputs.ram_copy_mbs, RAM_COPY_REF_MBS, W_RAM),
    ];
    if factors.iter().any(|(v, _, _)| !v.is_finite() || *v <= 0.0) {
        return 0.0;
    }
    let score = factors.iter().fold(100.0, |acc, (v, reference, w)| {
        acc * (v / reference).powf(*w)
    });
    (score * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT_REFERENCE: ScoreInputs = ScoreInputs {
        eps: 240.0,
        disk_write_mbs: 180.0,
        random_write_iops: IOPS_REF,
        ram_copy_mbs: RAM_COPY_REF_MBS,
    };

    #[test]
    fn references_score_100_and_weights_apply() {
        assert_eq!(bench_score(&AT_REFERENCE), 100.0);
        let double_eps = ScoreInputs {
            eps: 480.0,
            ..AT_REFERENCE
        };
        assert_eq!(bench_score(&double_eps), 141.4);
        let double_disk = ScoreInputs {
            disk_write_mbs: 360.0,
            ..AT_REFERENCE
        };
        assert_eq!(bench_score(&double_disk), 123.1);
    }

    #[test]
    fn a_missing_figure_gives_zero_not_nan() {
        for broken in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let inputs = ScoreInputs {
                random_write_iops: broken,
                ..AT_REFERENCE
            };
            assert_eq!(bench_score(&inputs), 0.0);
        }
    }
}
