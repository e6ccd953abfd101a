//! The node benchmark: what this host has ([`inventory`]), how fast it is ([`cpu`],
//! [`ram`], [`disk`]), the tier that earns ([`tier`]) and one score for ranking
//! ([`score`]).
//!
//! [`run`] is the library entry point (the daemon calls it at start and on a period and
//! caches the [`BenchReport`] with its time); `fluxnode bench` prints the same report.
//! Every figure is measured the same way on every node so that scores compare: CPU
//! events are sysbench's, disk writes bypass the page cache, and the method is versioned
//! by [`BENCH_VERSION`] — a report of another version is not comparable and must be
//! re-measured.

pub mod cache;
pub mod cgroup;
pub mod cpu;
pub mod disk;
pub mod inventory;
pub mod ram;
pub mod score;
pub mod tier;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use self::cpu::CpuReport;
pub use self::disk::{DiskPlan, DiskReport, IoMode};
pub use self::inventory::Inventory;
pub use self::ram::RamReport;
pub use self::tier::{TierInputs, TierProfile, TierVerdict, Unmet};

/// Version of the measuring method. Bump it whenever a change moves the figures (prime
/// bound, block sizes, durations, score formula), so old cached reports are recognised.
pub const BENCH_VERSION: u32 = 1;

/// What to measure and how.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// Data directory: its filesystem is sized and written to.
    pub dir: PathBuf,
    /// Short run (≤ 3 s) with noisier figures, for smoke tests and CI.
    pub quick: bool,
    /// Minimums to classify against.
    pub profile: TierProfile,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub version: u32,
    /// When the run started, seconds since the Unix epoch.
    pub measured_at_unix: u64,
    /// Wall time of the whole run, seconds.
    pub duration_secs: f64,
    pub quick: bool,
    pub inventory: Inventory,
    pub cpu: CpuReport,
    pub ram: RamReport,
    pub disk: DiskReport,
    pub tier: TierVerdict,
    /// See [`score`] for the formula.
    pub bench_score: f64,
}

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("data directory {path}: {source} (pass an existing directory with --dir)")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data directory {path} has {free_bytes} bytes free; the disk benchmark needs at \
         least {needed_bytes} (free some space or pass another --dir)"
    )]
    DiskFull {
        path: PathBuf,
        free_bytes: u64,
        needed_bytes: u64,
    },
    #[error("disk benchmark file {path}: {source}")]
    DiskIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "CPU self-check failed: an event found {found} primes instead of {expected}; \
         this CPU computes wrong results (check cooling, overclocking and memory)"
    )]
    CpuSelfCheck { found: u64, expected: u64 },
    #[error("a {0} benchmark thread panicked")]
    WorkerPanicked(&'static str),
}

/// Durations and sizes of a run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    cpu_multi: Duration,
    cpu_single: Duration,
    ram: Duration,
    ram_working_set: usize,
    disk: DiskPlan,
}

/// Full run: about 10 s of measuring, leaving room under the 15 s promise for buffer
/// allocation and file deletion on a busy host. Each part runs long enough for timer and
/// scheduling noise to be well under 1 % (hundreds of ~4–10 ms CPU events per thread; 1 MiB
/// writes for up to 3 s).
const FULL: Plan = Plan {
    cpu_multi: Duration::from_millis(3_500),
    cpu_single: Duration::from_millis(1_500),
    ram: Duration::from_secs(1),
    ram_working_set: ram::FULL_WORKING_SET_BYTES,
    disk: DiskPlan {
        max_bytes: 4 << 30,
        seq_time: Duration::from_secs(3),
        random_time: Duration::from_secs(1),
    },
};

/// Quick run: about 2 s, leaving room under the 3 s promise for allocation, file
/// creation and deletion on a busy host.
const QUICK: Plan = Plan {
    cpu_multi: Duration::from_millis(600),
    cpu_single: Duration::from_millis(300),
    ram: Duration::from_millis(200),
    ram_working_set: ram::QUICK_WORKING_SET_BYTES,
    disk: DiskPlan {
        max_bytes: 128 << 20,
        seq_time: Duration::from_millis(500),
        random_time: Duration::from_millis(300),
    },
};

/// Measures the host. Blocking: it keeps every usable CPU busy for seconds, so async
/// callers run it on a blocking thread (`tokio::task::spawn_blocking`).
pub fn run(options: &BenchOptions) -> Result<BenchReport, BenchError> {
    let began = Instant::now();
    let measured_at_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let plan = if options.quick { QUICK } else { FULL };
    let inventory = Inventory::collect(&options.dir)?;
    let threads = inventory.worker_threads();
    let cpu = cpu::run(inventory.cpus, plan.cpu_multi, plan.cpu_single)?;
    let ram = ram::run(threads, inventory.ram_bytes, plan.ram_working_set, plan.ram)?;
    let disk = disk::run(&inventory.disk.path, inventory.disk.free_bytes, plan.disk)?;
    let tier = tier::classify(
        &TierInputs {
            physical_cores: inventory.physical_cores,
            logical_cores: inventory.logical_cores,
            ram_gb: inventory.ram_gb(),
            disk_total_gb: inventory.disk_total_gb(),
            disk_write_mbs: disk.write_mbs,
            eps: cpu.eps,
        },
        options.profile,
    );
    let bench_score = score::bench_score(&score::ScoreInputs {
        eps: cpu.eps,
        disk_write_mbs: disk.write_mbs,
        random_write_iops: disk.random_write_iops,
        ram_copy_mbs: ram.copy_mbs,
    });
    Ok(BenchReport {
        version: BENCH_VERSION,
        measured_at_unix,
        duration_secs: began.elapsed().as_secs_f64(),
        quick: options.quick,
        inventory,
        cpu,
        ram,
        disk,
        tier,
        bench_score,
    })
}
