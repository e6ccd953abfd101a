//! The Flux app specification (versions 1–8) as Rust types.
//!
//! JSON field names are exactly Flux's (`containerPorts`, `environmentParameters`,
//! `containerData`, `repoauth`, …). Versions 4–8 deserialize directly; a v1–v3 spec
//! describes one container at its top level (string-typed ports, `enviromentParameters`)
//! and is normalised into a single [`Component`] named after the app.
//!
//! Two ways in:
//! - [`AppSpec::from_json`] parses **and validates** with the FluxOS rules
//!   ([`crate::validate`]); a [`SpecError`] carries every violation. Use it for anything
//!   that comes from outside (API, CLI, gossip).
//! - [`AppSpec::parse`] only parses (for specs already validated, e.g. read back from the
//!   node's own store). It ignores unknown keys and enforces no limits.

mod canonical;
mod legacy;
mod numbers;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::tier::{Resources, Tier};
use crate::validate::{self, ValidationContext, Violation, rule};

pub use legacy::LEGACY_DEFAULT_INSTANCES;

/// Subscription length when a spec has no `expire` (versions before 6): FluxOS's
/// `blocksLasting` of 22,000 blocks was set for 2-minute blocks; since the PON fork
/// (block 2,020,000) blocks come every 30 s and FluxOS multiplies block counts by 4, so
/// the same ≈30.6 days is 88,000 blocks — the design's default expiry.
pub const DEFAULT_EXPIRE_BLOCKS: u32 = 88_000;

/// A Flux app specification, normalised to the v4+ shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSpec {
    /// Specification version, 1–8 (kept as written; v1–v3 are normalised in shape only).
    #[serde(deserialize_with = "numbers::whole")]
    pub version: u32,
    /// App name: unique on the network, part of container and network names.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Owner address (a Zel ID / Bitcoin-style or `0x` address); signs register/renew.
    #[serde(default)]
    pub owner: String,
    /// Containers, in order. Empty only for a v8 enterprise app in encrypted form.
    pub compose: Vec<Component>,
    /// Instances wanted on distinct nodes.
    #[serde(deserialize_with = "numbers::whole")]
    pub instances: u32,
    #[serde(default)]
    pub contacts: Vec<String>,
    /// Placement expressions (`acEU`, `a!cNA_US`, …); see [`crate::geo`].
    #[serde(default)]
    pub geolocation: Vec<String>,
    /// Subscription length in blocks (v6+); see [`AppSpec::expire_blocks`].
    #[serde(
        default,
        deserialize_with = "numbers::whole_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub expire: Option<u32>,
    /// Target nodes (v7+, enterprise in v8): `txhash:outidx` or IP entries.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Run only on nodes with a static IP (v7+).
    #[serde(default)]
    pub staticip: bool,
    /// v8: `false`/`""` for a normal app, `true` for a decrypted enterprise app, or the
    /// encrypted blob of the on-chain form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise: Option<Enterprise>,
    /// v8: run only in data centres (enterprise owners only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenter: Option<bool>,
}

/// One container of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Image reference, e.g. `nginx:1.27` or `registry:5000/org/app:tag`.
    pub repotag: String,
    /// Host ports, published on the node.
    #[serde(default, deserialize_with = "numbers::whole_vec")]
    pub ports: Vec<u16>,
    /// Container ports, one per host port.
    #[serde(
        default,
        rename = "containerPorts",
        deserialize_with = "numbers::whole_vec"
    )]
    pub container_ports: Vec<u16>,
    /// One domain (or `""`) per host port.
    #[serde(default)]
    pub domains: Vec<String>,
    /// `KEY=value` entries.
    #[serde(default, rename = "environmentParameters")]
    pub environment_parameters: Vec<String>,
    #[serde(default)]
    pub commands: Vec<String>,
    /// Data mount: a container path, optionally with Flux mount prefixes (`g:`, `r:`, …).
    #[serde(rename = "containerData")]
    pub container_data: String,
    /// Cores (fractional).
    pub cpu: f64,
    /// MB.
    #[serde(deserialize_with = "numbers::whole")]
    pub ram: u64,
    /// GB.
    #[serde(deserialize_with = "numbers::whole")]
    pub hdd: u64,
    /// Private registry credentials (v7+); non-empty only for enterprise apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repoauth: Option<String>,
    /// PGP-encrypted environment (v7 with target nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<String>,
    /// v1–v7: whether the per-tier values below apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiered: Option<bool>,
    /// Per-tier values (v1–v7): `basic` on Cumulus, `super` on Nimbus, `bamf` on Stratus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpubasic: Option<f64>,
    #[serde(
        default,
        deserialize_with = "numbers::whole_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rambasic: Option<u64>,
    #[serde(
        default,
        deserialize_with = "numbers::whole_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub hddbasic: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpusuper: Option<f64>,
    #[serde(
        default,
        deserialize_with = "numbers::whole_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub ramsuper: Option<u64>,
    #[serde(
        default,
        deserialize_with = "numbers::whole_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub hddsuper: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpubamf: Option<f64>,
    #[serde(
        default,
        deserialize_with = "numbers::whole_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rambamf: Option<u64>,
    #[serde(
        default,
        deserialize_with = "numbers::whole_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub hddbamf: Option<u64>,
}

/// The v8 `enterprise` field: a string or a boolean in Flux.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Enterprise {
    /// `false` (normal app) or `true` (decrypted enterprise app).
    Flag(bool),
    /// `""` (normal app) or the encrypted blob of the on-chain form.
    Blob(String),
}

impl Enterprise {
    /// Whether the app is an enterprise app (JavaScript truthiness, as FluxOS tests it).
    pub fn is_enterprise(&self) -> bool {
        match self {
            Enterprise::Flag(b) => *b,
            Enterprise::Blob(s) => !s.is_empty(),
        }
    }

    /// The encrypted specification, when this is the on-chain form.
    pub fn encrypted_blob(&self) -> Option<&str> {
        match self {
            Enterprise::Blob(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
}

/// A spec that could not be read or broke rules; carries every violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub violations: Vec<Violation>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.violations.len();
        write!(
            f,
            "invalid app specification ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

impl SpecError {
    fn single(path: &str, rule: &'static str, message: String) -> Self {
        Self {
            violations: vec![Violation {
                path: path.to_owned(),
                rule,
                message,
            }],
        }
    }
}

impl Component {
    /// The untiered cpu/ram/hdd.
    pub fn resources(&self) -> Resources {
        Resources::new(self.cpu, self.ram, self.hdd)
    }

    /// What this component uses on a node of `tier`: the tier's values for a tiered
    /// component (falling back to the plain value where one is absent or zero, as FluxOS
    /// does), the plain values otherwise.
    pub fn resources_on(&self, tier: Tier) -> Resources {
        if self.tiered != Some(true) {
            return self.resources();
        }
        let (cpu, ram, hdd) = match tier {
            Tier::Cumulus => (self.cpubasic, self.rambasic, self.hddbasic),
            Tier::Nimbus => (self.cpusuper, self.ramsuper, self.hddsuper),
            Tier::Stratus => (self.cpubamf, self.rambamf, self.hddbamf),
        };
        Resources::new(
            cpu.filter(|c| *c != 0.0).unwrap_or(self.cpu),
            ram.filter(|r| *r != 0).unwrap_or(self.ram),
            hdd.filter(|h| *h != 0).unwrap_or(self.hdd),
        )
    }
}

impl AppSpec {
    /// Parses and validates at the default height
    /// ([`crate::validate::limits::DEFAULT_HEIGHT`]).
    pub fn from_json(bytes: &[u8]) -> Result<AppSpec, SpecError> {
        Self::from_json_with(bytes, &ValidationContext::default())
    }

    /// Parses and validates with an explicit context (chain height, enterprise owners).
    pub fn from_json_with(bytes: &[u8], ctx: &ValidationContext) -> Result<AppSpec, SpecError> {
        let value = parse_value(bytes)?;
        let violations = validate::validate_value(&value, ctx);
        if !violations.is_empty() {
            return Err(SpecError { violations });
        }
        Self::from_value(&value)
    }

    /// Parses without validating (see the module docs). Unknown keys are ignored.
    pub fn parse(bytes: &[u8]) -> Result<AppSpec, SpecError> {
        Self::from_value(&parse_value(bytes)?)
    }

    /// Reads a JSON value of any version 1–8 into the normalised form, without validating.
    pub fn from_value(value: &Value) -> Result<AppSpec, SpecError> {
        let Some(obj) = value.as_object() else {
            return Err(SpecError::single(
                "$",
                rule::NOT_AN_OBJECT,
                "an app specification is a JSON object".to_owned(),
            ));
        };
        let version = obj.get("version").and_then(Value::as_f64).unwrap_or(0.0);
        // A v1–v3 spec already normalised (our own canonical form) has `compose`.
        let legacy_shape = (1.0..4.0).contains(&version) && !obj.contains_key("compose");
        let parsed = if legacy_shape {
            legacy::LegacySpec::deserialize(value).map(legacy::LegacySpec::normalise)
        } else {
            AppSpec::deserialize(value)
        };
        parsed.map_err(|e| {
            SpecError::single(
                "$",
                rule::PARSE,
                format!("cannot read the specification: {e}"),
            )
        })
    }

    /// Blocks the subscription lasts from its registration or last update: `expire`, or
    /// [`DEFAULT_EXPIRE_BLOCKS`] for specs without it.
    pub fn expire_blocks(&self) -> u32 {
        self.expire.unwrap_or(DEFAULT_EXPIRE_BLOCKS)
    }

    /// Sum of the components' untiered cpu/ram/hdd.
    pub fn totals(&self) -> Resources {
        self.compose
            .iter()
            .fold(Resources::default(), |acc, c| acc.add(&c.resources()))
    }

    /// Sum of what the components use on a node of `tier` (differs from
    /// [`AppSpec::totals`] only for tiered v1–v7 specs).
    pub fn totals_on(&self, tier: Tier) -> Resources {
        self.compose.iter().fold(Resources::default(), |acc, c| {
            acc.add(&c.resources_on(tier))
        })
    }

    /// The lowest tier whose per-app caps cover what the app uses on that tier; `None`
    /// when none does. An encrypted enterprise app has no visible components and needs
    /// no tier until it is decrypted.
    pub fn required_tier(&self) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .find(|t| self.totals_on(*t).fits_within(&t.app_caps()))
    }

    /// Whether this is a v8 enterprise app in its encrypted on-chain form.
    pub fn is_encrypted(&self) -> bool {
        self.enterprise
            .as_ref()
            .and_then(Enterprise::encrypted_blob)
            .is_some()
    }

    /// The normalised spec as canonical JSON (sorted keys, no whitespace).
    pub fn to_canonical_json(&self) -> String {
        // Serializing plain data to a Value cannot fail; an empty object stands in if it
        // ever did, which changes the hash visibly rather than panicking.
        let value =
            serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()));
        let mut out = String::new();
        canonical::write(&value, &mut out);
        out
    }

    /// SHA-256 (hex) of [`AppSpec::to_canonical_json`]: equal for equal normalised specs,
    /// whatever the key order or formatting of the source.
    pub fn spec_hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_canonical_json().as_bytes()))
    }
}

fn parse_value(bytes: &[u8]) -> Result<Value, SpecError> {
    serde_json::from_slice(bytes).map_err(|e| SpecError {
        violations: vec![validate::malformed(&e)],
    })
}
