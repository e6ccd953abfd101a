//! Resource checks: v1–v3 granularity per value (`checkHWParameters`) and, for every
//! version, the app's totals against the per-app maximum and, for tiered specs, each
//! tier's totals against that tier's cap (`checkComposeHWParameters`).

use crate::tier::{APP_MAX, CPU_EPSILON, Tier};

use super::limits::*;
use super::report::{Report, join, rule};
use super::workload::{Hw, TIER_SUFFIXES, Workload};

/// v1–v3: each value in its step, between its minimum and the cap that applies to it
/// (the Stratus cap for the plain values and `bamf`, Cumulus for `basic`, Nimbus for
/// `super`).
pub(crate) fn check_legacy_granularity(w: &Workload, r: &mut Report) {
    check_steps(&w.hw, "", Tier::Stratus, r);
    if w.tiered {
        for (t, tier) in Tier::ALL.into_iter().enumerate() {
            check_steps(&w.tiers[t], TIER_SUFFIXES[t], tier, r);
        }
    }
}

fn check_steps(hw: &Hw, suffix: &str, tier: Tier, r: &mut Report) {
    let cap = tier.app_caps();
    if let Some(cpu) = hw.cpu {
        let tenths = cpu * 10.0;
        // FluxOS tests `(cpu * 10) % 1`; allow the binary rounding of values like 0.3.
        if (tenths - tenths.round()).abs() > 1e-9
            || cpu < LEGACY_CPU_MIN
            || cpu > cap.cpu + CPU_EPSILON
        {
            r.push(
                &join("", &format!("cpu{suffix}")),
                rule::RESOURCE_GRANULARITY,
                format!(
                    "cpu{suffix} is {cpu}; it must be a multiple of 0.1 between {LEGACY_CPU_MIN} and {} ({tier})",
                    cap.cpu
                ),
            );
        }
    }
    if let Some(ram) = hw.ram {
        let step = LEGACY_RAM_STEP as f64;
        if ram % step != 0.0 || ram < LEGACY_RAM_MIN as f64 || ram > cap.ram as f64 {
            r.push(
                &format!("ram{suffix}"),
                rule::RESOURCE_GRANULARITY,
                format!(
                    "ram{suffix} is {ram} MB; it must be a multiple of {LEGACY_RAM_STEP} between {LEGACY_RAM_MIN} and {} ({tier})",
                    cap.ram
                ),
            );
        }
    }
    if let Some(hdd) = hw.hdd {
        if hdd.fract() != 0.0 || hdd < LEGACY_HDD_MIN as f64 || hdd > cap.hdd as f64 {
            r.push(
                &format!("hdd{suffix}"),
                rule::RESOURCE_GRANULARITY,
                format!(
                    "hdd{suffix} is {hdd} GB; it must be a whole number between {LEGACY_HDD_MIN} and {} ({tier})",
                    cap.hdd
                ),
            );
        }
    }
}

/// Sums of known values.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    cpu: f64,
    ram: f64,
    hdd: f64,
}

impl Totals {
    fn add(&mut self, hw: &Hw) {
        self.cpu += hw.cpu.unwrap_or(0.0);
        self.ram += hw.ram.unwrap_or(0.0);
        self.hdd += hw.hdd.unwrap_or(0.0);
    }
}

/// App totals against the per-app maximum; tiered totals against each tier's cap.
/// `path` is where totals are reported (`compose`, or `$` for v1–v3).
pub(crate) fn check_totals(workloads: &[Workload], path: &str, r: &mut Report) {
    let mut plain = Totals::default();
    for w in workloads {
        plain.add(&w.hw);
    }
    let over = |what: &str, total: f64, cap: f64, unit: &str| {
        format!("total {what} {total}{unit} exceeds the per-app maximum of {cap}{unit}")
    };
    if plain.cpu > APP_MAX.cpu + CPU_EPSILON {
        r.push(
            path,
            rule::RESOURCE_OVERFLOW_CPU,
            over("cpu", round_tenths(plain.cpu), APP_MAX.cpu, " cores"),
        );
    }
    if plain.ram > APP_MAX.ram as f64 {
        r.push(
            path,
            rule::RESOURCE_OVERFLOW_RAM,
            over("ram", plain.ram, APP_MAX.ram as f64, " MB"),
        );
    }
    if plain.hdd > APP_MAX.hdd as f64 {
        r.push(
            path,
            rule::RESOURCE_OVERFLOW_HDD,
            over("hdd", plain.hdd, APP_MAX.hdd as f64, " GB"),
        );
    }
    if !workloads.iter().any(|w| w.tiered) {
        return;
    }
    for (t, tier) in Tier::ALL.into_iter().enumerate() {
        let mut totals = Totals::default();
        for w in workloads {
            // FluxOS: `cpubasic || cpu` — a missing or zero tier value falls back.
            let pick = |tiered: Option<f64>, plain: Option<f64>| match tiered {
                Some(x) if w.tiered && x != 0.0 => Some(x),
                _ => plain,
            };
            totals.add(&Hw {
                cpu: pick(w.tiers[t].cpu, w.hw.cpu),
                ram: pick(w.tiers[t].ram, w.hw.ram),
                hdd: pick(w.tiers[t].hdd, w.hw.hdd),
            });
        }
        let cap = tier.app_caps();
        let suffix = TIER_SUFFIXES[t];
        let mut report = |dim: &str, total: f64, cap: f64, unit: &str| {
            r.push(
                path,
                rule::RESOURCE_OVERFLOW_TIER,
                format!("total {dim}{suffix} {total}{unit} exceeds the {tier} cap of {cap}{unit}"),
            );
        };
        if totals.cpu > cap.cpu + CPU_EPSILON {
            report("cpu", round_tenths(totals.cpu), cap.cpu, " cores");
        }
        if totals.ram > cap.ram as f64 {
            report("ram", totals.ram, cap.ram as f64, " MB");
        }
        if totals.hdd > cap.hdd as f64 {
            report("hdd", totals.hdd, cap.hdd as f64, " GB");
        }
    }
}

/// For messages: 15.100000000000001 reads as 15.1.
fn round_tenths(x: f64) -> f64 {
    (x * 1e8).round() / 1e8
}
