//! Validation of a Flux app specification with the FluxOS rules.
//!
//! Validation reads the raw JSON value, not the typed [`crate::spec::AppSpec`], so that a
//! wrong type or an unknown key is reported at its path instead of failing a
//! deserializer. Unlike FluxOS, which throws at the first problem, every check runs and
//! **every** violation is returned, each with a path and a rule id:
//!
//! ```text
//! compose[1].ports[0]: banned-port: host port 22 is reserved; choose another host port
//! ```
//!
//! The rules are those of FluxOS v8.17.0 `verifyAppSpecifications` (type checks,
//! restrictions, version activation, allowed keys, unique ports, hardware totals) at a
//! chain height given in [`ValidationContext`], plus two registration-time checks FluxOS
//! runs elsewhere (`share` is reserved; `datacenter` needs an enterprise owner). Registry
//! lookups (image architectures) need the network and are not part of this module.
//! Where this validator is stricter than FluxOS it says so at the check: ram and hdd must
//! be whole numbers, a v4+ `repotag` must not be empty, and the checks of `runnable`
//! (resource minimums, mountable `containerData`, `KEY=value` env, image references).

mod app;
mod health;
mod keys;
pub mod limits;
mod ports;
mod report;
mod resources;
mod runnable;
mod update;
mod value;
mod workload;

use serde_json::{Map, Value};

pub use report::{Violation, rule};

pub use runnable::image_reference;
pub use update::{check_update, update_rule};

use report::{Report, index, quote};
use value::{is_falsy, js_len, type_name};
use workload::{AppFacts, Shape, Workload, check_workload};

/// What validation depends on besides the spec itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationContext {
    /// Chain height the rules are taken at (forks change port ranges, limits, expiry).
    pub height: u32,
    /// Owners allowed to request data-centre placement (FluxOS `enterpriseAppOwners`).
    /// Empty by default: offline, no owner is known to be one.
    pub enterprise_owners: Vec<String>,
}

impl Default for ValidationContext {
    fn default() -> Self {
        Self {
            height: limits::DEFAULT_HEIGHT,
            enterprise_owners: Vec::new(),
        }
    }
}

impl ValidationContext {
    /// The default context at another chain height.
    pub fn at_height(height: u32) -> Self {
        Self {
            height,
            ..Self::default()
        }
    }
}

/// Parses `bytes` as JSON and validates it. Malformed JSON is one violation at `$`.
pub fn validate_json(bytes: &[u8], ctx: &ValidationContext) -> Vec<Violation> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => validate_value(&value, ctx),
        Err(e) => vec![malformed(&e)],
    }
}

/// The violation for input that is not JSON (or nests deeper than the parser's limit).
pub(crate) fn malformed(e: &serde_json::Error) -> Violation {
    Violation {
        path: "$".to_owned(),
        rule: rule::MALFORMED_JSON,
        message: format!(
            "not valid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ),
    }
}

/// Every violation of `value` against the FluxOS rules at `ctx.height`; empty when valid.
pub fn validate_value(value: &Value, ctx: &ValidationContext) -> Vec<Violation> {
    let mut r = Report::default();
    let Some(obj) = value.as_object() else {
        r.push(
            "",
            rule::NOT_AN_OBJECT,
            format!(
                "an app specification is a JSON object, not {}",
                type_name(value)
            ),
        );
        return r.into_violations();
    };
    let version = check_version(obj, ctx, &mut r);
    let name = value::required_str(obj, "", "name", rule::MISSING_NAME, true, &mut r);
    if let Some(d) = value::required_str(
        obj,
        "",
        "description",
        rule::MISSING_DESCRIPTION,
        true,
        &mut r,
    ) {
        if js_len(d) > limits::DESCRIPTION_MAX {
            r.push(
                "description",
                rule::DESCRIPTION_TOO_LONG,
                format!(
                    "description is longer than {} characters",
                    limits::DESCRIPTION_MAX
                ),
            );
        }
    }
    let owner = value::required_str(obj, "", "owner", rule::MISSING_OWNER, true, &mut r);
    // Without a known version the layout is unknown; the rest would be guesswork.
    let Some(version) = version else {
        return r.into_violations();
    };
    if let Some(name) = name {
        check_app_name(name, version, &mut r);
    }
    let facts = AppFacts {
        version,
        height: ctx.height,
        nodes_nonempty: obj
            .get("nodes")
            .and_then(Value::as_array)
            .is_some_and(|n| !n.is_empty()),
        enterprise: version >= 8 && !is_falsy(obj.get("enterprise")),
    };
    let workloads = if version <= 3 {
        let shape = if version == 1 { Shape::V1 } else { Shape::V2V3 };
        vec![check_workload(obj, "", shape, &facts, &mut r)]
    } else {
        check_compose(obj, &facts, &mut r)
    };
    app::check_app_fields(obj, owner, ctx, &facts, &mut r);
    keys::check_keys(obj, version, &mut r);
    app::check_unique_ports(&workloads, &mut r);
    if version <= 3 {
        if let Some(w) = workloads.first() {
            resources::check_legacy_granularity(w, &mut r);
        }
        resources::check_totals(&workloads, "", &mut r);
    } else {
        resources::check_totals(&workloads, "compose", &mut r);
    }
    r.into_violations()
}

/// `version`: present, a whole number, known, and active at the height.
fn check_version(obj: &Map<String, Value>, ctx: &ValidationContext, r: &mut Report) -> Option<u32> {
    let raw = obj.get("version");
    if is_falsy(raw) {
        r.push(
            "version",
            rule::MISSING_VERSION,
            "`version` is required (1 to 8)",
        );
        return None;
    }
    let Some(x) = raw.and_then(Value::as_f64) else {
        let found = raw.map_or("nothing", type_name);
        r.push(
            "version",
            rule::BAD_VERSION,
            format!("`version` must be a number, not {found}"),
        );
        return None;
    };
    let known = (1.0..=f64::from(limits::LATEST_VERSION)).contains(&x) && x.fract() == 0.0;
    if !known {
        r.push(
            "version",
            rule::BAD_VERSION,
            format!(
                "version {x} is not a Flux app specification version (1 to {})",
                limits::LATEST_VERSION
            ),
        );
        return None;
    }
    let version = x as u32;
    if let Some(active) = limits::version_activation_height(version) {
        if ctx.height < active {
            r.push(
                "version",
                rule::VERSION_NOT_ACTIVE,
                format!(
                    "v{version} specs are accepted from block {active}; the chain is at {}",
                    ctx.height
                ),
            );
        }
    }
    Some(version)
}

fn check_app_name(name: &str, version: u32, r: &mut Report) {
    let max = if version >= 8 {
        limits::NAME_MAX_V8
    } else {
        limits::NAME_MAX_LEGACY
    };
    if js_len(name) > max {
        r.push(
            "name",
            rule::NAME_TOO_LONG,
            format!("name is longer than {max} characters (v{version})"),
        );
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let well_formed = if version >= 8 {
        // v8: letters, digits and inner hyphens (an RFC 1035 label).
        name.chars().all(|c| alnum(c) || c == '-')
            && name.chars().next().is_some_and(alnum)
            && name.chars().last().is_some_and(alnum)
    } else {
        name.chars().all(alnum)
    };
    if !well_formed {
        let allowed = if version >= 8 {
            "a-z, A-Z, 0-9 and hyphens (not first or last)"
        } else {
            "a-z, A-Z and 0-9"
        };
        r.push(
            "name",
            rule::NAME_SPECIAL_CHARS,
            format!("name {} may contain only {allowed}", quote(name)),
        );
    }
    // Case-sensitive, as in FluxOS: `FluxExport` is a valid name.
    if name.starts_with("zel") || name.starts_with("flux") {
        r.push(
            "name",
            rule::NAME_RESERVED_PREFIX,
            format!(
                "name {} starts with a reserved prefix (zel, flux)",
                quote(name)
            ),
        );
    }
    let lower = name.to_ascii_lowercase();
    if lower == "watchtower" {
        r.push(
            "name",
            rule::NAME_RESERVED_WATCHTOWER,
            "watchtower is reserved for the Flux update service",
        );
    }
    // FluxOS checks this at registration (`checkApplicationRegistrationNameConflicts`).
    if lower == "share" {
        r.push(
            "name",
            rule::NAME_RESERVED_SHARE,
            "share is reserved for the Flux main application",
        );
    }
}

/// `compose[]` (v4+): present, 1 to 10 objects with unique names. A v8 enterprise app in
/// its on-chain form carries `compose: []` and its components inside the encrypted
/// `enterprise` blob; that form is accepted with no components.
fn check_compose(obj: &Map<String, Value>, facts: &AppFacts, r: &mut Report) -> Vec<Workload> {
    let items = match obj.get("compose") {
        None | Some(Value::Null) => {
            r.push(
                "compose",
                rule::MISSING_FIELD,
                "`compose` is required (an array of components)",
            );
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            r.push(
                "compose",
                rule::WRONG_TYPE,
                format!("`compose` must be an array, not {}", type_name(other)),
            );
            return Vec::new();
        }
    };
    let encrypted = facts.version >= 8
        && obj
            .get("enterprise")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
    if items.is_empty() && !encrypted {
        r.push(
            "compose",
            rule::NO_COMPONENTS,
            "the app has no components; add at least one",
        );
    }
    let max = if facts.height >= limits::COMPONENTS_MAX_CHANGE_HEIGHT {
        limits::COMPONENTS_MAX
    } else {
        limits::COMPONENTS_MAX_LEGACY
    };
    if items.len() > max {
        r.push(
            "compose",
            rule::TOO_MANY_COMPONENTS,
            format!("{} components; at most {max} are allowed", items.len()),
        );
    }
    let mut workloads = Vec::with_capacity(items.len());
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let base = index("compose", i);
        let Some(component) = item.as_object() else {
            r.push(
                &base,
                rule::WRONG_TYPE,
                format!("a component must be an object, not {}", type_name(item)),
            );
            continue;
        };
        workloads.push(check_workload(component, &base, Shape::Compose, facts, r));
        if let Some(name) = component
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            if let Some(&(_, first)) = seen.iter().find(|(n, _)| *n == name) {
                r.push(
                    &format!("{base}.name"),
                    rule::COMPONENT_NAME_DUPLICATE,
                    format!(
                        "component name {} is already used by compose[{first}]",
                        quote(name)
                    ),
                );
            } else {
                seen.push((name, i));
            }
        }
    }
    workloads
}
