//! Tier classification against the minimums in [`proto::tier`] (the one table), optionally
//! scaled down for testnets.
//!
//! A node is of the highest tier whose every minimum it meets (`>=`, so a figure exactly
//! at the minimum passes). Cores count physical cores and threads count logical CPUs,
//! both after container limits: a 4-vCPU VM (4 cores, 4 threads) meets Cumulus's 2/4, a
//! 2-vCPU VM does not.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use proto::tier::{Tier, TierMinimums};
use serde::{Deserialize, Serialize};

/// Which minimums to classify against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TierProfile {
    /// Flux's published minimums, unchanged.
    #[default]
    Mainnet,
    /// Every minimum divided by [`TESTNET_DIVISOR`] (cores and threads at least 1), so
    /// small containers on one machine can take part in a test network. Never valid for
    /// mainnet; the output says so.
    Testnet,
}

/// Testnet minimums are the published ones divided by this: Cumulus becomes 1 core /
/// 1 thread, 0.5 GB RAM, 13.75 GB disk, 11.25 MB/s, 15 EPS — what a container with half a
/// CPU and 1 GB on a shared host can meet, while Nimbus and Stratus stay distinguishable.
pub const TESTNET_DIVISOR: f64 = 16.0;

impl TierProfile {
    /// The minimums of `tier` under this profile.
    pub fn minimums(self, tier: Tier) -> TierMinimums {
        let published = tier.minimums();
        match self {
            TierProfile::Mainnet => published,
            TierProfile::Testnet => TierMinimums {
                cores: scale_count(published.cores),
                threads: scale_count(published.threads),
                ram_gb: published.ram_gb / TESTNET_DIVISOR,
                ssd_gb: published.ssd_gb / TESTNET_DIVISOR,
                disk_write_mbs: published.disk_write_mbs / TESTNET_DIVISOR,
                eps: published.eps / TESTNET_DIVISOR,
            },
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TierProfile::Mainnet => "mainnet",
            TierProfile::Testnet => "testnet",
        }
    }

    /// A line for human output; empty for mainnet.
    pub fn warning(self) -> Option<String> {
        match self {
            TierProfile::Mainnet => None,
            TierProfile::Testnet => Some(format!(
                "TESTNET tier profile: minimums divided by {TESTNET_DIVISOR}; \
                 this tier is not valid on mainnet"
            )),
        }
    }
}

fn scale_count(n: u32) -> u32 {
    ((f64::from(n) / TESTNET_DIVISOR).ceil() as u32).max(1)
}

impl FromStr for TierProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mainnet" => Ok(TierProfile::Mainnet),
            "testnet" => Ok(TierProfile::Testnet),
            other => Err(format!(
                "unknown tier profile {other:?}; expected mainnet or testnet"
            )),
        }
    }
}

impl fmt::Display for TierProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The figures a tier is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierInputs {
    pub physical_cores: u32,
    pub logical_cores: u32,
    pub ram_gb: f64,
    pub disk_total_gb: f64,
    pub disk_write_mbs: f64,
    pub eps: f64,
}

/// One tier minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    Cores,
    Threads,
    RamGb,
    SsdGb,
    DiskWriteMbs,
    Eps,
}

impl Requirement {
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Cores => "cores",
            Requirement::Threads => "threads",
            Requirement::RamGb => "ram_gb",
            Requirement::SsdGb => "ssd_gb",
            Requirement::DiskWriteMbs => "disk_write_mbs",
            Requirement::Eps => "eps",
        }
    }
}

/// A minimum of `tier` the node does not meet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Unmet {
    pub tier: Tier,
    pub requirement: Requirement,
    pub required: f64,
    pub measured: f64,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {} below the minimum {}",
            self.tier,
            self.requirement.as_str(),
            trim(self.measured),
            trim(self.required)
        )
    }
}

/// Whole numbers without decimals, others with two.
fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The outcome: a tier, or none with the reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierVerdict {
    /// `CUMULUS`, `NIMBUS`, `STRATUS` or `FAIL`.
    pub result: String,
    pub profile: TierProfile,
    /// The highest tier met; `None` is FAIL.
    pub tier: Option<Tier>,
    /// On FAIL, every Cumulus minimum not met; otherwise empty.
    pub unmet: Vec<Unmet>,
    /// The minimums of the next tier up that are not met (empty at Stratus or on FAIL),
    /// so the operator sees what an upgrade needs.
    pub next_tier_unmet: Vec<Unmet>,
}

/// Every minimum of `tier` that `inputs` does not meet, in table order.
pub fn unmet(inputs: &TierInputs, tier: Tier, profile: TierProfile) -> Vec<Unmet> {
    let min = profile.minimums(tier);
    let checks = [
        (
            Requirement::Cores,
            f64::from(min.cores),
            f64::from(inputs.physical_cores),
        ),
        (
            Requirement::Threads,
            f64::from(min.threads),
            f64::from(inputs.logical_cores),
        ),
        (Requirement::RamGb, min.ram_gb, inputs.ram_gb),
        (Requirement::SsdGb, min.ssd_gb, inputs.disk_total_gb),
        (
            Requirement::DiskWriteMbs,
            min.disk_write_mbs,
            inputs.disk_write_mbs,
        ),
        (Requirement::Eps, min.eps, inputs.eps),
    ];
    checks
        .into_iter()
        // Anything but "greater or equal" is unmet, so a NaN measurement fails too.
        .filter(|(_, required, measured)| {
            !matches!(
                measured.partial_cmp(required),
                Some(Ordering::Greater | Ordering::Equal)
            )
        })
        .map(|(requirement, required, measured)| Unmet {
            tier,
            requirement,
            required,
            measured,
        })
        .collect()
}

/// Classifies `inputs` under `profile`.
pub fn classify(inputs: &TierInputs, profile: TierProfile) -> TierVerdict {
    let tier = Tier::ALL
        .into_iter()
        .rev()
        .find(|&t| unmet(inputs, t, profile).is_empty());
    let (unmet_now, next) = match tier {
        None => (unmet(inputs, Tier::Cumulus, profile), Vec::new()),
        Some(t) => {
            let next = Tier::ALL
                .into_iter()
                .find(|&n| n > t)
                .map(|n| unmet(inputs, n, profile))
                .unwrap_or_default();
            (Vec::new(), next)
        }
    };
    TierVerdict {
        result: tier.map_or_else(|| "FAIL".to_owned(), |t| t.as_str().to_ascii_uppercase()),
        profile,
        tier,
        unmet: unmet_now,
        next_tier_unmet: next,
    }
}
