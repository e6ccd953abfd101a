//! Violations, their rule ids, and the collector every check writes into.

use std::fmt;

use serde::Serialize;

use super::limits::QUOTE_MAX;

/// One broken rule: where (`compose[1].ports[0]`), which rule (`banned-port`) and what to
/// change. Displayed as `compose[1].ports[0]: banned-port: host port 22 is reserved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Location in the spec: `name`, `compose[1].ports[0]`; `$` is the document itself.
    pub path: String,
    /// A stable rule id from [`rule`].
    pub rule: &'static str,
    /// What is wrong, written for the app owner.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path, self.rule, self.message)
    }
}

/// Rule ids. Those of the fixture corpus (`fixtures/flux-specs/README.md`) are used as they
/// are; the others follow the same naming.
pub mod rule {
    // Document.
    pub const MALFORMED_JSON: &str = "malformed-json";
    pub const NOT_AN_OBJECT: &str = "not-an-object";
    pub const PARSE: &str = "parse";
    // Required fields.
    pub const MISSING_VERSION: &str = "missing-version";
    pub const MISSING_NAME: &str = "missing-name";
    pub const MISSING_DESCRIPTION: &str = "missing-description";
    pub const MISSING_OWNER: &str = "missing-owner";
    pub const MISSING_INSTANCES: &str = "missing-instances";
    pub const MISSING_EXPIRE: &str = "missing-expire";
    pub const MISSING_NODES: &str = "missing-nodes";
    pub const MISSING_ENTERPRISE: &str = "missing-enterprise";
    pub const MISSING_REPOAUTH: &str = "missing-repoauth";
    pub const MISSING_SECRETS: &str = "missing-secrets";
    pub const MISSING_FIELD: &str = "missing-field";
    pub const MISSING_COMPONENT_NAME: &str = "missing-component-name";
    pub const NO_COMPONENTS: &str = "no-components";
    // Version.
    pub const BAD_VERSION: &str = "bad-version";
    pub const VERSION_NOT_ACTIVE: &str = "version-not-active";
    // Types.
    pub const WRONG_TYPE: &str = "wrong-type";
    pub const WRONG_TYPE_PORTS: &str = "wrong-type-ports";
    pub const WRONG_TYPE_HW: &str = "wrong-type-hw";
    pub const WRONG_TYPE_STATICIP: &str = "wrong-type-staticip";
    pub const TOO_MANY_DECIMALS: &str = "too-many-decimals";
    // Keys.
    pub const UNKNOWN_KEY: &str = "unknown-key";
    // App names.
    pub const NAME_TOO_LONG: &str = "name-too-long";
    pub const NAME_SPECIAL_CHARS: &str = "name-special-chars";
    pub const NAME_RESERVED_PREFIX: &str = "name-reserved-prefix";
    pub const NAME_RESERVED_WATCHTOWER: &str = "name-reserved-watchtower";
    pub const NAME_RESERVED_SHARE: &str = "name-reserved-share";
    // Component names.
    pub const COMPONENT_NAME_TOO_LONG: &str = "component-name-too-long";
    pub const COMPONENT_NAME_SPECIAL_CHARS: &str = "component-name-special-chars";
    pub const COMPONENT_NAME_RESERVED_PREFIX: &str = "component-name-reserved-prefix";
    pub const COMPONENT_NAME_DUPLICATE: &str = "component-name-duplicate";
    // Lengths.
    pub const DESCRIPTION_TOO_LONG: &str = "description-too-long";
    pub const CONTAINERDATA_TOO_SHORT: &str = "containerdata-too-short";
    pub const CONTAINERDATA_TOO_LONG: &str = "containerdata-too-long";
    pub const REPOTAG_TOO_LONG: &str = "repotag-too-long";
    pub const DOMAIN_TOO_LONG: &str = "domain-too-long";
    pub const ENV_TOO_LONG: &str = "env-too-long";
    pub const COMMAND_TOO_LONG: &str = "command-too-long";
    pub const CONTACT_TOO_LONG: &str = "contact-too-long";
    pub const GEOLOCATION_TOO_LONG: &str = "geolocation-too-long";
    pub const NODE_TOO_LONG: &str = "node-too-long";
    pub const SECRETS_TOO_LONG: &str = "secrets-too-long";
    pub const REPOAUTH_TOO_LONG: &str = "repoauth-too-long";
    // Counts.
    pub const TOO_MANY_COMPONENTS: &str = "too-many-components";
    pub const TOO_MANY_PORTS: &str = "too-many-ports";
    pub const TOO_MANY_ENV: &str = "too-many-env";
    pub const TOO_MANY_COMMANDS: &str = "too-many-commands";
    pub const TOO_MANY_CONTACTS: &str = "too-many-contacts";
    pub const TOO_MANY_GEOLOCATIONS: &str = "too-many-geolocations";
    pub const TOO_MANY_NODES: &str = "too-many-nodes";
    // Ports.
    pub const BANNED_PORT: &str = "banned-port";
    pub const PORT_OUT_OF_RANGE: &str = "port-out-of-range";
    pub const PORTS_LENGTH_MISMATCH: &str = "ports-length-mismatch";
    pub const DOMAINS_LENGTH_MISMATCH: &str = "domains-length-mismatch";
    pub const DUPLICATE_PORT: &str = "duplicate-port";
    // Resources.
    pub const RESOURCE_OVERFLOW_CPU: &str = "resource-overflow-cpu";
    pub const RESOURCE_OVERFLOW_RAM: &str = "resource-overflow-ram";
    pub const RESOURCE_OVERFLOW_HDD: &str = "resource-overflow-hdd";
    pub const RESOURCE_OVERFLOW_TIER: &str = "resource-overflow-tier";
    pub const RESOURCE_GRANULARITY: &str = "resource-granularity";
    pub const RESOURCE_NOT_WHOLE: &str = "resource-not-whole";
    // Instances and expire.
    pub const INSTANCES_OUT_OF_RANGE: &str = "instances-out-of-range";
    pub const EXPIRE_OUT_OF_RANGE: &str = "expire-out-of-range";
    pub const EXPIRE_NOT_MULTIPLE: &str = "expire-not-multiple";
    // Enterprise-only features.
    pub const NODES_NEED_ENTERPRISE: &str = "nodes-need-enterprise";
    pub const REPOAUTH_NEEDS_ENTERPRISE: &str = "repoauth-needs-enterprise";
    pub const SECRETS_NEED_NODES: &str = "secrets-need-nodes";
    pub const DATACENTER_NEEDS_ENTERPRISE_OWNER: &str = "datacenter-needs-enterprise-owner";
    // Runnable: values FluxOS lets through but no node can run (see `runnable.rs`).
    pub const RESOURCE_BELOW_MINIMUM: &str = "resource-below-minimum";
    pub const CONTAINERDATA_BAD_PATH: &str = "containerdata-bad-path";
    pub const ENV_NOT_KEY_VALUE: &str = "env-not-key-value";
    /// A malformed `FLUXNODE_HEALTHCHECK` entry (see `crate::health`).
    pub const HEALTHCHECK_SYNTAX: &str = "bad-healthcheck";
    pub const HEALTHCHECK_REPEATED: &str = "healthcheck-repeated";
    pub const REPOTAG_INVALID: &str = "repotag-invalid";
}

/// Collects violations in the order the checks find them.
#[derive(Debug, Default)]
pub(crate) struct Report {
    violations: Vec<Violation>,
}

impl Report {
    pub(crate) fn push(&mut self, path: &str, rule: &'static str, message: impl Into<String>) {
        self.violations.push(Violation {
            path: if path.is_empty() {
                "$".to_owned()
            } else {
                path.to_owned()
            },
            rule,
            message: message.into(),
        });
    }

    pub(crate) fn into_violations(self) -> Vec<Violation> {
        self.violations
    }
}

/// `base.key`, or `key` at the top level.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// A user-supplied string quoted for a message, cut to a readable length.
pub(crate) fn quote(s: &str) -> String {
    let count = s.chars().count();
    if count <= QUOTE_MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(QUOTE_MAX).collect();
        format!("{head:?}… ({count} characters)")
    }
}
