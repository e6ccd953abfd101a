//! The numbers FluxOS validates against, with the block heights at which they changed.
//!
//! Source: FluxOS v8.17.0 (`RunOnFlux/flux` at `845aa9b`), `config/default.js`
//! (`fluxapps.*`) and `ZelBack/src/services/appRequirements/appValidator.js`. Each constant
//! names the FluxOS setting it mirrors.

/// The chain height validation runs at unless the caller gives another: the height of the
/// Flux_Atlas captures the fixture corpus comes from (late September 2026). It is past every
/// fork listed below, so the current rules apply.
pub const DEFAULT_HEIGHT: u32 = 2_996_914;

/// `portBlockheightChange`: from this height host ports may be 1–65535; before it,
/// `portMinLegacy`–`portMaxLegacy` (31000–39999).
pub const PORT_RANGE_CHANGE_HEIGHT: u32 = 1_420_000;
pub const PORT_MIN: u32 = 1;
pub const PORT_MAX: u32 = 65_535;
pub const PORT_MIN_LEGACY: u32 = 31_000;
pub const PORT_MAX_LEGACY: u32 = 39_999;
/// Container ports are checked against the system range only.
pub const CONTAINER_PORT_MAX: u32 = 65_535;

/// `fluxapps.bannedPorts`: host ports an app may never publish (FluxOS's own services,
/// local apps and well-known system services). Inclusive ranges.
pub const BANNED_PORTS: &[(u32, u32)] = &[
    (16_100, 16_299),
    (26_100, 26_299),
    (30_000, 30_099),
    (8384, 8384),
    (27_017, 27_017),
    (22, 22),
    (23, 23),
    (25, 25),
    (3389, 3389),
    (5900, 5900),
    (5800, 5800),
    (161, 161),
    (512, 512),
    (513, 513),
    (5901, 5901),
    (3388, 3388),
    (4444, 4444),
    (123, 123),
    (53, 53),
];

/// Whether FluxOS refuses `port` as a host port.
pub fn is_banned_port(port: u32) -> bool {
    BANNED_PORTS
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&port))
}

/// `appSpecsEnforcementHeights`: the height from which each spec version is accepted.
pub fn version_activation_height(version: u32) -> Option<u32> {
    match version {
        1 | 2 => Some(0),
        3 => Some(983_000),
        4 => Some(1_004_000),
        5 => Some(1_142_000),
        6 => Some(1_300_000),
        7 => Some(1_420_000),
        8 => Some(1_932_380),
        _ => None,
    }
}

/// The newest spec version this validator knows (`latestAppSpecification`).
pub const LATEST_VERSION: u32 = 8;

/// App names: 63 characters from v8 (an RFC 1035 label), 32 before.
pub const NAME_MAX_V8: usize = 63;
pub const NAME_MAX_LEGACY: usize = 32;
/// App and component descriptions.
pub const DESCRIPTION_MAX: usize = 256;

/// Components per app: 10 from `appSpecsEnforcementHeights[6]`, 5 before.
pub const COMPONENTS_MAX: usize = 10;
pub const COMPONENTS_MAX_LEGACY: usize = 5;
pub const COMPONENTS_MAX_CHANGE_HEIGHT: u32 = 1_300_000;

pub const PORTS_PER_COMPONENT_MAX: usize = 5;
pub const DOMAIN_MAX: usize = 253;
pub const REPOTAG_MAX: usize = 200;
/// `containerData` must name a folder (at least 2 characters, `/tmp` when none is wanted).
pub const CONTAINER_DATA_MIN: usize = 2;
pub const CONTAINER_DATA_MAX: usize = 200;
pub const ENV_MAX: usize = 20;
pub const ENV_ENTRY_MAX: usize = 400;
pub const COMMANDS_MAX: usize = 20;
pub const COMMAND_ENTRY_MAX: usize = 400;
/// PGP-encrypted `secrets` / `repoauth` (about 100 characters per selected node).
pub const SECRETS_MAX: usize = 15_000;
pub const REPOAUTH_MAX: usize = 15_000;

/// `minimumInstances` / `maximumInstances`; v8 apps may run a single instance from
/// block 2,176,519.
pub const INSTANCES_MIN: u64 = 3;
pub const INSTANCES_MIN_V8: u64 = 1;
pub const INSTANCES_MIN_V8_HEIGHT: u32 = 2_176_519;
pub const INSTANCES_MAX: u64 = 100;

pub const CONTACTS_MAX: usize = 5;
pub const CONTACT_MAX: usize = 75;
pub const GEOLOCATIONS_MAX: usize = 10;
pub const GEOLOCATION_MAX: usize = 50;
/// `nodes[]` (v7+): 120 entries of at most 70 characters (64 for a txhash, `:`, up to 5
/// for the output index).
pub const NODES_MAX: usize = 120;
pub const NODE_MAX: usize = 70;

/// Expiry bounds in blocks. `minBlocksAllowance` 5000 until `newMinBlocksAllowanceBlock`,
/// then 100 until `cancel1BlockMinBlocksAllowanceBlock`, then 1 (an update with expire 1
/// cancels an app).
pub const EXPIRE_MIN_ORIGINAL: u64 = 5_000;
pub const EXPIRE_MIN_100_HEIGHT: u32 = 1_630_040;
pub const EXPIRE_MIN_100: u64 = 100;
pub const EXPIRE_MIN_1_HEIGHT: u32 = 1_964_447;
pub const EXPIRE_MIN_1: u64 = 1;
/// `maxBlocksAllowance` 264,000 before the PON fork (`daemonPONFork`, 2,020,000); the chain
/// runs 4× faster after it, so `postPonMaxBlocksAllowance` is 1,056,000 (about a year).
pub const EXPIRE_MAX_PRE_PON: u64 = 264_000;
pub const EXPIRE_MAX: u64 = 1_056_000;
pub const PON_FORK_HEIGHT: u32 = 2_020_000;
/// Before `removeBlocksAllowanceIntervalBlock`, expire had to be a multiple of
/// `blocksAllowanceInterval`.
pub const EXPIRE_INTERVAL: u64 = 1_000;
pub const EXPIRE_INTERVAL_UNTIL_HEIGHT: u32 = 1_625_000;

/// `isDecimalLimit`'s default: numbers carry at most 8 decimals (satoshi precision).
pub const MAX_DECIMALS: usize = 8;

/// v1–v3 granularity (`checkHWParameters`): cpu in steps of 0.1 core from 0.1, ram in
/// steps of 100 MB from 100, hdd in whole GB from 1.
pub const LEGACY_CPU_MIN: f64 = 0.1;
pub const LEGACY_RAM_STEP: u64 = 100;
pub const LEGACY_RAM_MIN: u64 = 100;
pub const LEGACY_HDD_MIN: u64 = 1;

/// Per-component minimums for every version (stricter than FluxOS from v4, which checks
/// only totals): the v1–v3 minimums above, the smallest values FluxOS itself ever required.
pub const CPU_MIN: f64 = LEGACY_CPU_MIN;
pub const RAM_MIN: f64 = LEGACY_RAM_MIN as f64;
pub const HDD_MIN: f64 = LEGACY_HDD_MIN as f64;

/// Longest excerpt of a user-supplied string quoted in a message, so that a 10 MB value
/// does not produce a 10 MB report.
pub const QUOTE_MAX: usize = 40;
