//! `fluxnode bench`: measure this host, classify its tier, print the report.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::bench::cgroup::CgroupVersion;
use crate::bench::{self, BenchOptions, BenchReport, Inventory, TierProfile};

/// Arguments of `fluxnode bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Print the full report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Short run (about 2 s instead of 10 s); figures are noisier.
    #[arg(long)]
    pub quick: bool,
    /// Data directory whose disk is sized and write-tested (a temporary file is written
    /// there and removed).
    #[arg(long, env = "FLUXNODE_DATA_DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Tier minimums: `mainnet` (Flux's published ones) or `testnet` (divided by 16, for
    /// test networks of small containers; never valid on mainnet).
    #[arg(long, default_value = "mainnet")]
    pub tier_profile: TierProfile,
    /// Only report cores, RAM and disk space (honouring container limits); measures nothing.
    #[arg(long)]
    pub inventory_only: bool,
}

/// Runs the benchmark; exit code 0 when it completed (whatever the tier), 1 on error.
pub fn run(args: &BenchArgs) -> ExitCode {
    if args.inventory_only {
        return match Inventory::collect(&args.dir) {
            Ok(inventory) => {
                if args.json {
                    print_json(&serde_json::json!({
                        "version": bench::BENCH_VERSION,
                        "inventory": inventory,
                    }))
                } else {
                    print_inventory(&inventory);
                    ExitCode::SUCCESS
                }
            }
            Err(e) => fail(&e),
        };
    }
    let options = BenchOptions {
        dir: args.dir.clone(),
        quick: args.quick,
        profile: args.tier_profile,
    };
    match bench::run(&options) {
        Ok(report) if args.json => print_json(&report),
        Ok(report) => {
            print_report(&report);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &bench::BenchError) -> ExitCode {
    eprintln!("fluxnode bench: {e}");
    ExitCode::FAILURE
}

fn print_json(value: &impl serde::Serialize) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            outln!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fluxnode bench: cannot encode the report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_inventory(inv: &Inventory) {
    let gb = inventory_gb;
    outln!(
        "cpus            {:.2} usable ({} physical cores, {} threads counted); host {} logical, {} physical",
        inv.cpus,
        inv.physical_cores,
        inv.logical_cores,
        inv.host.logical_cpus,
        inv.host.physical_cores
    );
    outln!(
        "ram             {:.2} GB usable; host {:.2} GB",
        gb(inv.ram_bytes),
        gb(inv.host.ram_bytes)
    );
    if let Some(quota) = inv.cgroup.cpu_quota {
        let source = inv.cgroup.cpu_source.map_or("?", version_name);
        outln!("cgroup cpu      {quota:.2} CPUs (cgroup {source})");
    }
    if let Some(limit) = inv.cgroup.memory_limit_bytes {
        let source = inv.cgroup.memory_source.map_or("?", version_name);
        outln!("cgroup memory   {:.2} GB (cgroup {source})", gb(limit));
    }
    outln!(
        "disk            {} : {:.1} GB total, {:.1} GB free",
        inv.disk.path.display(),
        gb(inv.disk.total_bytes),
        gb(inv.disk.free_bytes)
    );
}

fn version_name(v: CgroupVersion) -> &'static str {
    match v {
        CgroupVersion::V1 => "v1",
        CgroupVersion::V2 => "v2",
    }
}

fn inventory_gb(bytes: u64) -> f64 {
    bytes as f64 / bench::inventory::BYTES_PER_GB
}

fn print_report(r: &BenchReport) {
    outln!(
        "fluxnode bench v{}{}, {:.1} s",
        r.version,
        if r.quick { " (quick)" } else { "" },
        r.duration_secs
    );
    print_inventory(&r.inventory);
    outln!(
        "cpu             {:.1} events/s on {} threads, {:.1} single-threaded (prime bound {}; \
         per CPU-second; wall clock {:.1} and {:.1})",
        r.cpu.eps,
        r.cpu.threads,
        r.cpu.eps_single,
        r.cpu.prime_bound,
        r.cpu.eps_wall,
        r.cpu.eps_single_wall
    );
    outln!("ram copy        {:.0} MB/s", r.ram.copy_mbs);
    let mode = match r.disk.io_mode {
        bench::IoMode::Direct => "O_DIRECT",
        bench::IoMode::Dsync => "O_DSYNC",
    };
    outln!(
        "disk write      {:.1} MB/s sequential, {:.0} IOPS 4 KiB random ({mode})",
        r.disk.write_mbs,
        r.disk.random_write_iops
    );
    outln!("bench_score     {:.1}", r.bench_score);
    if let Some(warning) = r.tier.profile.warning() {
        outln!("{warning}");
    }
    outln!("tier            {}", r.tier.result);
    for unmet in &r.tier.unmet {
        outln!("  unmet         {unmet}");
    }
    for unmet in &r.tier.next_tier_unmet {
        outln!("  next tier     {unmet}");
    }
}
