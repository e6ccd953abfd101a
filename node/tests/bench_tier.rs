//! Tier classification on the boundary values of the published minimums.

use fluxnode::bench::tier::{Requirement, TESTNET_DIVISOR, TierInputs, TierProfile, classify};
use proto::tier::{Tier, TierMinimums};

/// Inputs exactly at `min`.
fn at(min: TierMinimums) -> TierInputs {
    TierInputs {
        physical_cores: min.cores,
        logical_cores: min.threads,
        ram_gb: min.ram_gb,
        disk_total_gb: min.ssd_gb,
        disk_write_mbs: min.disk_write_mbs,
        eps: min.eps,
    }
}

/// `inputs` with one figure lowered to just below its minimum (one core, or the next
/// representable float below).
fn just_below(mut inputs: TierInputs, req: Requirement) -> TierInputs {
    let below = |v: f64| f64::from_bits(v.to_bits() - 1);
    match req {
        Requirement::Cores => inputs.physical_cores -= 1,
        Requirement::Threads => inputs.logical_cores -= 1,
        Requirement::RamGb => inputs.ram_gb = below(inputs.ram_gb),
        Requirement::SsdGb => inputs.disk_total_gb = below(inputs.disk_total_gb),
        Requirement::DiskWriteMbs => inputs.disk_write_mbs = below(inputs.disk_write_mbs),
        Requirement::Eps => inputs.eps = below(inputs.eps),
    }
    inputs
}

const ALL_REQUIREMENTS: [Requirement; 6] = [
    Requirement::Cores,
    Requirement::Threads,
    Requirement::RamGb,
    Requirement::SsdGb,
    Requirement::DiskWriteMbs,
    Requirement::Eps,
];

#[test]
fn exactly_at_each_minimum_earns_that_tier() {
    for profile in [TierProfile::Mainnet, TierProfile::Testnet] {
        for tier in Tier::ALL {
            let verdict = classify(&at(profile.minimums(tier)), profile);
            assert_eq!(verdict.tier, Some(tier), "{profile} {tier}: {verdict:?}");
            assert!(verdict.unmet.is_empty());
            assert_eq!(verdict.result, tier.as_str().to_ascii_uppercase());
        }
    }
}

#[test]
fn just_below_one_minimum_drops_a_tier_and_names_it() {
    let profile = TierProfile::Mainnet;
    for (lower, tier) in [
        (None, Tier::Cumulus),
        (Some(Tier::Cumulus), Tier::Nimbus),
        (Some(Tier::Nimbus), Tier::Stratus),
    ] {
        for req in ALL_REQUIREMENTS {
            let inputs = just_below(at(tier.minimums()), req);
            let verdict = classify(&inputs, profile);
            // Nimbus and Cumulus share the disk-write minimum (180 MB/s), so a Nimbus
            // machine just below it fails Cumulus too.
            let expected = if tier == Tier::Nimbus && req == Requirement::DiskWriteMbs {
                None
            } else {
                lower
            };
            assert_eq!(verdict.tier, expected, "{tier} minus {req:?}: {verdict:?}");
            let named = if expected.is_none() {
                &verdict.unmet
            } else {
                &verdict.next_tier_unmet
            };
            assert_eq!(named.len(), 1, "{tier} minus {req:?}: {verdict:?}");
            assert_eq!(named[0].requirement, req);
            assert!(named[0].measured < named[0].required);
        }
    }
}

#[test]
fn fail_names_every_unmet_cumulus_minimum() {
    let nothing = TierInputs {
        physical_cores: 1,
        logical_cores: 2,
        ram_gb: 4.0,
        disk_total_gb: 500.0,
        disk_write_mbs: 90.0,
        eps: 300.0,
    };
    let verdict = classify(&nothing, TierProfile::Mainnet);
    assert_eq!(verdict.tier, None);
    assert_eq!(verdict.result, "FAIL");
    let named: Vec<_> = verdict.unmet.iter().map(|u| u.requirement).collect();
    assert_eq!(
        named,
        [
            Requirement::Cores,
            Requirement::Threads,
            Requirement::RamGb,
            Requirement::DiskWriteMbs
        ]
    );
    assert!(verdict.unmet.iter().all(|u| u.tier == Tier::Cumulus));
    let text = verdict.unmet[2].to_string();
    assert_eq!(text, "cumulus: ram_gb 4 below the minimum 8");
    // A NaN figure (a failed measurement) never passes.
    let nan = TierInputs {
        eps: f64::NAN,
        ..at(Tier::Stratus.minimums())
    };
    let verdict = classify(&nan, TierProfile::Mainnet);
    assert_eq!(verdict.tier, None);
    assert_eq!(verdict.unmet[0].requirement, Requirement::Eps);
}

#[test]
fn testnet_profile_scales_every_minimum_and_is_labelled() {
    let profile = TierProfile::Testnet;
    for tier in Tier::ALL {
        let (published, scaled) = (tier.minimums(), profile.minimums(tier));
        assert_eq!(scaled.eps, published.eps / TESTNET_DIVISOR);
        assert_eq!(
            scaled.disk_write_mbs,
            published.disk_write_mbs / TESTNET_DIVISOR
        );
        assert_eq!(scaled.ram_gb, published.ram_gb / TESTNET_DIVISOR);
        assert!(scaled.cores >= 1 && scaled.threads >= 1);
    }
    // A small container fails mainnet and passes testnet, and the verdict says which.
    let small = TierInputs {
        physical_cores: 1,
        logical_cores: 1,
        ram_gb: 1.0,
        disk_total_gb: 50.0,
        disk_write_mbs: 100.0,
        eps: 60.0,
    };
    assert_eq!(classify(&small, TierProfile::Mainnet).tier, None);
    let verdict = classify(&small, profile);
    assert_eq!(verdict.tier, Some(Tier::Cumulus));
    assert_eq!(verdict.profile, TierProfile::Testnet);
    assert!(profile.warning().unwrap().contains("not valid on mainnet"));
    assert!(TierProfile::Mainnet.warning().is_none());
    assert!("devnet".parse::<TierProfile>().is_err());
}
