//! Node tiers and the published Flux numbers that go with them.
//!
//! Every figure here is FluxOS's own (see the design notes): node minimums from the
//! benchmark requirements, per-app caps from FluxOS's tier caps, and the system reserve a
//! node keeps for itself. They live in one place so that the benchmark, the validator and
//! the scheduler cannot drift apart.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A node tier. The derived order is the capability order: `Cumulus < Nimbus < Stratus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Cumulus,
    Nimbus,
    Stratus,
}

impl Tier {
    /// All tiers, lowest first.
    pub const ALL: [Tier; 3] = [Tier::Cumulus, Tier::Nimbus, Tier::Stratus];

    /// Lower-case name, as used in JSON and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Cumulus => "cumulus",
            Tier::Nimbus => "nimbus",
            Tier::Stratus => "stratus",
        }
    }

    /// The published minimums a node must meet to be of this tier.
    pub fn minimums(self) -> TierMinimums {
        match self {
            Tier::Cumulus => CUMULUS_MIN,
            Tier::Nimbus => NIMBUS_MIN,
            Tier::Stratus => STRATUS_MIN,
        }
    }

    /// The most one app may use to still fit this tier.
    pub fn app_caps(self) -> Resources {
        match self {
            Tier::Cumulus => Resources::new(3.0, 5_000, 160),
            Tier::Nimbus => Resources::new(7.0, 28_000, 380),
            Tier::Stratus => Resources::new(15.0, 59_000, 820),
        }
    }

    /// The lowest tier whose per-app caps cover `totals`, or `None` when no tier does.
    pub fn required_for(totals: Resources) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .find(|t| totals.fits_within(&t.app_caps()))
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cumulus" => Ok(Tier::Cumulus),
            "nimbus" => Ok(Tier::Nimbus),
            "stratus" => Ok(Tier::Stratus),
            other => Err(format!(
                "unknown tier {other:?}; expected cumulus, nimbus or stratus"
            )),
        }
    }
}

/// The minimums a node must meet for a tier (FluxOS benchmark requirements).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierMinimums {
    /// Physical cores.
    pub cores: u32,
    /// Logical CPUs (threads).
    pub threads: u32,
    /// RAM in GB.
    pub ram_gb: f64,
    /// SSD size in GB.
    pub ssd_gb: f64,
    /// Sequential disk write in MB/s (Flux's `ddwrite`).
    pub disk_write_mbs: f64,
    /// CPU events per second, multi-threaded (Flux's `eps`).
    pub eps: f64,
}

pub const CUMULUS_MIN: TierMinimums = TierMinimums {
    cores: 2,
    threads: 4,
    ram_gb: 8.0,
    ssd_gb: 220.0,
    disk_write_mbs: 180.0,
    eps: 240.0,
};
pub const NIMBUS_MIN: TierMinimums = TierMinimums {
    cores: 4,
    threads: 8,
    ram_gb: 32.0,
    ssd_gb: 440.0,
    disk_write_mbs: 180.0,
    eps: 640.0,
};
pub const STRATUS_MIN: TierMinimums = TierMinimums {
    cores: 8,
    threads: 16,
    ram_gb: 64.0,
    ssd_gb: 880.0,
    disk_write_mbs: 400.0,
    eps: 1_520.0,
};

/// cpu in cores, ram in MB, hdd in GB — the units of a Flux app spec.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub cpu: f64,
    pub ram: u64,
    pub hdd: u64,
}

impl Resources {
    pub const fn new(cpu: f64, ram: u64, hdd: u64) -> Self {
        Self { cpu, ram, hdd }
    }

    /// Whether every dimension is at most `other`'s. CPU is compared with a small
    /// tolerance because specs sum decimal fractions such as 0.1.
    pub fn fits_within(&self, other: &Resources) -> bool {
        self.cpu <= other.cpu + CPU_EPSILON && self.ram <= other.ram && self.hdd <= other.hdd
    }

    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpu: (self.cpu - other.cpu).max(0.0),
            ram: self.ram.saturating_sub(other.ram),
            hdd: self.hdd.saturating_sub(other.hdd),
        }
    }

    pub fn add(&self, other: &Resources) -> Resources {
        Resources {
            cpu: self.cpu + other.cpu,
            ram: self.ram.saturating_add(other.ram),
            hdd: self.hdd.saturating_add(other.hdd),
        }
    }
}

/// Tolerance for summed fractional cores (0.1 + 0.2 != 0.3 in binary floating point).
pub const CPU_EPSILON: f64 = 1e-9;

/// What a node keeps for its own system and never offers to apps (FluxOS's locked
/// resources): 1 core, 2,000 MB RAM, 60 GB disk.
pub const SYSTEM_RESERVE: Resources = Resources::new(1.0, 2_000, 60);

/// Hard per-app maxima (FluxOS): 15 cores, 59,000 MB, 820 GB — the Stratus caps.
pub const APP_MAX: Resources = Resources::new(15.0, 59_000, 820);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_tier_boundaries() {
        assert_eq!(
            Tier::required_for(Resources::new(3.0, 5_000, 160)),
            Some(Tier::Cumulus)
        );
        assert_eq!(
            Tier::required_for(Resources::new(3.1, 5_000, 160)),
            Some(Tier::Nimbus)
        );
        assert_eq!(
            Tier::required_for(Resources::new(1.0, 5_001, 1)),
            Some(Tier::Nimbus)
        );
        assert_eq!(
            Tier::required_for(Resources::new(1.0, 100, 381)),
            Some(Tier::Stratus)
        );
        assert_eq!(Tier::required_for(APP_MAX), Some(Tier::Stratus));
        assert_eq!(Tier::required_for(Resources::new(15.1, 1, 1)), None);
        // 0.1 summed thirty times is 3.0000000000000013 in f64; it must still be Cumulus.
        let cpu: f64 = std::iter::repeat_n(0.1, 30).sum();
        assert_eq!(
            Tier::required_for(Resources::new(cpu, 100, 1)),
            Some(Tier::Cumulus)
        );
    }

    #[test]
    fn tier_order_and_names() {
        assert!(Tier::Cumulus < Tier::Nimbus && Tier::Nimbus < Tier::Stratus);
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), t);
        }
        assert!("cirrus".parse::<Tier>().is_err());
    }
}
