//! `fluxnode schedule`: run the placement scheduler over JSON files (a fixed interface
//! other tools use; see the scheduler crate's `contract` module for the shapes).
//!
//! Exit codes: 0 with the decision printed, 2 when an input file is unreadable or invalid
//! (the message names the file, the record and the field).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use proto::spec::AppSpec;
use proto::validate::{ValidationContext, validate_value};
use scheduler::{AppDemand, Params, Running};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Nodes: [{"id","tier","geo","cpu","ram","hdd","used_cpu","used_ram","used_hdd","bench_score","uptime"}].
    #[arg(long, value_name = "NODES.json")]
    pub nodes: PathBuf,
    /// Apps: an array of Flux app specs, each optionally with a "height" (registration height).
    #[arg(long, value_name = "APPS.json")]
    pub apps: PathBuf,
    /// Instances running now: [{"app","node"}].
    #[arg(long, value_name = "RUNNING.json")]
    pub running: Option<PathBuf>,
    /// Print the decision as JSON (the stable interface); otherwise a summary per app.
    #[arg(long)]
    pub json: bool,
    /// Minimum observed uptime (0..=1) for a node to get new instances.
    #[arg(long, default_value_t = 0.9, value_name = "FRACTION")]
    pub min_uptime: f64,
    /// Current chain height: expired apps get no placements, removable ones are stopped.
    #[arg(long, value_name = "BLOCKS")]
    pub height: Option<u64>,
}

pub fn run(args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.min_uptime) {
        bail!(
            "--min-uptime: must be between 0 and 1, found {}",
            args.min_uptime
        );
    }
    let nodes_text = read(&args.nodes)?;
    let nodes = scheduler::parse_nodes(&nodes_text)
        .map_err(|e| anyhow!("{}: {e}", args.nodes.display()))?;
    let apps = read_apps(&args.apps)?;
    let running: Vec<Running> = match &args.running {
        Some(path) => serde_json::from_str(&read(path)?)
            .map_err(|e| anyhow!("{}: expected [{{\"app\", \"node\"}}]: {e}", path.display()))?,
        None => Vec::new(),
    };
    let params = Params {
        min_uptime: args.min_uptime,
        height: args.height,
        ..Params::default()
    };
    let out = scheduler::schedule(&nodes, &apps, &running, &params)
        .map_err(|e| anyhow!("inputs: {e}"))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for p in &out.placements {
            outln!("{}: place on {:?}, keep {:?}", p.app, p.nodes, p.keep);
        }
        for s in &out.stop {
            outln!("{}: stop on {} ({})", s.app, s.node, s.reason);
        }
        for u in &out.unplaced {
            outln!("{}: {} unplaced ({})", u.app, u.missing, u.reason);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads APPS.json: each element is validated as a Flux spec (after taking out the
/// optional `height`, which is ours, not Flux's) and turned into a demand.
fn read_apps(path: &Path) -> anyhow::Result<Vec<AppDemand>> {
    let text = read(path)?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{}: not valid JSON: {e}", path.display()))?;
    let Value::Array(items) = value else {
        bail!("{}: expected a JSON array of app specs", path.display());
    };
    let ctx = ValidationContext::default();
    let mut apps = Vec::with_capacity(items.len());
    for (i, mut item) in items.into_iter().enumerate() {
        let height = match item.as_object_mut().and_then(|o| o.remove("height")) {
            None => 0,
            Some(h) => h.as_u64().ok_or_else(|| {
                anyhow!(
                    "{}: [{i}].height: expected a whole number of blocks",
                    path.display()
                )
            })?,
        };
        let violations = validate_value(&item, &ctx);
        if !violations.is_empty() {
            let lines: Vec<String> = violations
                .iter()
                .map(|v| format!("{}: [{i}].{v}", path.display()))
                .collect();
            bail!("{}", lines.join("\n"));
        }
        let spec =
            AppSpec::from_value(&item).map_err(|e| anyhow!("{}: [{i}]: {e}", path.display()))?;
        apps.push(AppDemand::from_spec(&spec, height));
    }
    Ok(apps)
}
