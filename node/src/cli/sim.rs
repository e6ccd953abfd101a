//! `fluxnode sim`: run the placement simulator and print its report.

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use scheduler::sim::testbed::Shape;
use scheduler::sim::{
    Death, GroupKill, Kill, Partition, SimConfig, Strategy, Unhealthy, Update, UpdateReport,
};

/// Simulate N nodes and M apps over a lossy, partitionable network, deterministically.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Number of nodes (geography from the Flux country/tier census).
    #[arg(long)]
    pub nodes: usize,
    /// Number of apps (3–12 instances each).
    #[arg(long)]
    pub apps: usize,
    /// RNG seed: the same seed gives the same run and the same digest.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds.
    #[arg(long, default_value_t = 1_000)]
    pub duration: u64,
    /// One-way network latency in milliseconds (each message takes 0.5–1.5 × this).
    #[arg(long, default_value_t = 100)]
    pub latency: u64,
    /// Loss probability of each delivery, in [0, 1).
    #[arg(long, default_value_t = 0.01)]
    pub loss: f64,
    /// Kill PERCENT of the nodes at T seconds, e.g. `5@300`.
    #[arg(long, value_parser = parse_kill)]
    pub kill: Option<Kill>,
    /// Turn PERCENT of the running instances unhealthy at T seconds, e.g. `5@300`: their
    /// hosts give them up 30 s later and the report gives the time to replace them.
    #[arg(long, value_parser = parse_unhealthy)]
    pub unhealthy: Option<Unhealthy>,
    /// The owners of K apps (the first ones running at their count) publish a new spec
    /// at T seconds, e.g. `100@300`: the report gives the time until each runs N
    /// instances all on the new version and the fewest serving during its rollout.
    #[arg(long, value_parser = parse_update)]
    pub update: Option<Update>,
    /// Partition the nodes A:B from T1 to T2 seconds, e.g. `50/50@300-600`.
    #[arg(long, value_parser = parse_partition)]
    pub partition: Option<Partition>,
    /// `bidding` (fluxnode's protocol) or `fluxos` (FluxOS's random claims).
    #[arg(long, default_value = "bidding", value_parser = parse_strategy)]
    pub strategy: Strategy,
    /// Apps whose name a second owner registers at the same instant from another node
    /// (from the other side of the partition, during it, when there is one).
    #[arg(long, default_value_t = 0)]
    pub conflicts: usize,
    /// Give every node its own app ledger and view, fed by lossy gossip and anti-entropy
    /// (one per partition side above 500 nodes); otherwise all nodes share one.
    #[arg(long)]
    pub node_ledgers: bool,
    /// Run this many trials (seeds SEED, SEED+1, …) and print the ledger figures summed
    /// over them: nodes whose ledger differs 30 s after the heal, apps above N.
    #[arg(long, default_value_t = 1)]
    pub trials: u64,
    /// Record every message and container action about this app in the report.
    #[arg(long)]
    pub trace_app: Option<String>,
    /// `census` (Flux's geography, mixed apps of 3–12 instances) or `testbed`
    /// (`scripts/scale.sh`'s one-machine network: comparable nodes, smallest apps).
    #[arg(long, default_value = "census", value_parser = ["census", "testbed"])]
    pub shape: String,
    /// Instances of every app (testbed shape only).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub instances: u32,
    /// Kill every host of K apps (at their full count) at T seconds, e.g. `1@120`.
    #[arg(long, value_parser = parse_kill_group)]
    pub kill_group: Option<GroupKill>,
    /// Nodes (chosen by the seed) on which every container start fails.
    #[arg(long, default_value_t = 0)]
    pub failing_nodes: usize,
    /// How killed nodes die: `process` (connections reset at once) or `silent` (noticed
    /// by ping timeout).
    #[arg(long, default_value = "process", value_parser = parse_death)]
    pub death: Death,
    /// Apps are registered at uniform times within this many seconds.
    #[arg(long, default_value_t = 60)]
    pub register_window: u64,
    /// Container start time range, ms, e.g. `500-3000`.
    #[arg(long, value_parser = parse_range)]
    pub start_ms: Option<(u64, u64)>,
    /// Probability that a container start fails (any node).
    #[arg(long)]
    pub start_failure: Option<f64>,
    /// Print the report as JSON (otherwise a short summary).
    #[arg(long)]
    pub json: bool,
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    match s {
        "bidding" => Ok(Strategy::Bidding),
        "fluxos" => Ok(Strategy::Fluxos),
        _ => Err(format!("expected `bidding` or `fluxos`, got {s:?}")),
    }
}

fn num<T: FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{what} must be a number, got {s:?}"))
}

fn parse_kill(s: &str) -> Result<Kill, String> {
    let (p, t) = s
        .split_once('@')
        .ok_or_else(|| format!("expected PERCENT@SECONDS such as 5@300, got {s:?}"))?;
    let percent: f64 = num(p, "PERCENT")?;
    if !(0.0..=100.0).contains(&percent) {
        return Err(format!("PERCENT must be within 0..=100, got {percent}"));
    }
    Ok(Kill {
        percent,
        at_s: num(t, "SECONDS")?,
    })
}

fn parse_kill_group(s: &str) -> Result<GroupKill, String> {
    let (k, t) = s
        .split_once('@')
        .ok_or_else(|| format!("expected APPS@SECONDS such as 1@120, got {s:?}"))?;
    let apps: usize = num(k, "APPS")?;
    if apps == 0 {
        return Err(format!("APPS must be at least 1, got {s:?}"));
    }
    Ok(GroupKill {
        apps,
        at_s: num(t, "SECONDS")?,
    })
}

fn parse_update(s: &str) -> Result<Update, String> {
    let (k, t) = s
        .split_once('@')
        .ok_or_else(|| format!("expected APPS@SECONDS such as 100@300, got {s:?}"))?;
    let apps: usize = num(k, "APPS")?;
    if apps == 0 {
        return Err(format!("APPS must be at least 1, got {s:?}"));
    }
    Ok(Update {
        apps,
        at_s: num(t, "SECONDS")?,
    })
}

fn parse_death(s: &str) -> Result<Death, String> {
    match s {
        "process" => Ok(Death::Process),
        "silent" => Ok(Death::Silent),
        _ => Err(format!("expected `process` or `silent`, got {s:?}")),
    }
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("expected LO-HI such as 500-3000, got {s:?}"))?;
    let (lo, hi): (u64, u64) = (num(a, "LO")?, num(b, "HI")?);
    if lo > hi {
        return Err(format!("LO must not exceed HI, got {s:?}"));
    }
    Ok((lo, hi))
}

fn parse_unhealthy(s: &str) -> Result<Unhealthy, String> {
    let k = parse_kill(s)?;
    if k.percent <= 0.0 {
        return Err(format!("PERCENT must be above 0, got {s:?}"));
    }
    Ok(Unhealthy {
        percent: k.percent,
        at_s: k.at_s,
    })
}

fn parse_partition(s: &str) -> Result<Partition, String> {
    let err = || format!("expected A/B@T1-T2 such as 50/50@300-600, got {s:?}");
    let (ab, window) = s.split_once('@').ok_or_else(err)?;
    let (a, b) = ab.split_once('/').ok_or_else(err)?;
    let (t1, t2) = window.split_once('-').ok_or_else(err)?;
    let p = Partition {
        a: num(a, "A")?,
        b: num(b, "B")?,
        from_s: num(t1, "T1")?,
        to_s: num(t2, "T2")?,
    };
    if p.a == 0 || p.b == 0 {
        return Err(format!("A and B must both be above 0, got {s:?}"));
    }
    if p.from_s >= p.to_s {
        return Err(format!("T1 must be before T2, got {s:?}"));
    }
    Ok(p)
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let mut config = SimConfig::new(args.nodes, args.apps, args.seed);
    config.duration_s = args.duration;
    config.latency_ms = args.latency;
    config.loss = args.loss;
    config.kill = args.kill;
    config.unhealthy = args.unhealthy;
    config.partition = args.partition;
    config.update = args.update;
    config.strategy = args.strategy;
    config.conflicts = args.conflicts;
    config.node_ledgers = args.node_ledgers;
    config.trace_app = args.trace_app;
    config.register_window_s = args.register_window;
    if args.shape == "testbed" {
        config.shape = Shape::Testbed {
            instances: args.instances,
        };
        // scale.sh's apps are all new: none is past its expiry.
        config.expiring_share = 0.0;
    }
    config.faults.kill_group = args.kill_group;
    config.faults.failing_nodes = args.failing_nodes;
    config.faults.death = args.death;
    if let Some(r) = args.start_ms {
        config.start_ms = r;
    }
    if let Some(p) = args.start_failure {
        anyhow::ensure!(
            (0.0..=1.0).contains(&p),
            "--start-failure must be in [0, 1] (got {p})"
        );
        config.start_failure = p;
    }
    if args.trials == 0 {
        anyhow::bail!("--trials must be at least 1");
    }
    if args.trials > 1 {
        return trials(config, args.trials);
    }
    let started = Instant::now();
    let report = scheduler::sim::run(&config).context("invalid simulation flags")?;
    let wall = started.elapsed().as_secs_f64();
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(o) = value.as_object_mut() {
            o.insert("wall_seconds".into(), serde_json::json!(wall));
        }
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        outln!(
            "{} nodes x {} apps, {} s simulated in {wall:.1} s wall ({:?})",
            config.nodes,
            config.apps,
            config.duration_s,
            config.strategy
        );
        outln!(
            "time to N: p50 {:.1} s, p99 {:.1} s, max {:.1} s; never {}",
            report.time_to_n_s.p50,
            report.time_to_n_s.p99,
            report.time_to_n_s.max,
            report.never_reached_n
        );
        outln!(
            "over-assigned {:.0} app-s, under-assigned {:.0} app-s; final: {} at N, {} above, {} below",
            report.over_assigned_app_seconds,
            report.under_assigned_app_seconds,
            report.final_state.apps_at_n,
            report.final_state.apps_above_n,
            report.final_state.apps_below_n
        );
        if let Some(k) = &report.kill {
            outln!(
                "kill: {} nodes, {} apps hit; back at N p50 {:.1} s, max {:.1} s; not recovered {}",
                k.killed_nodes,
                k.affected_apps,
                k.time_to_replace_s.p50,
                k.time_to_replace_s.max,
                k.not_recovered
            );
        }
        let f = &report.faults;
        if f.groups_lost > 0 {
            outln!(
                "whole groups lost: {}; back at N p50 {:.1} s, max {:.1} s; not recovered {}",
                f.groups_lost,
                f.group_lost_s.p50,
                f.group_lost_s.max,
                f.groups_not_recovered
            );
        }
        if f.failing_nodes > 0 {
            outln!(
                "{} failing nodes: {} failed starts",
                f.failing_nodes,
                f.failed_starts
            );
        }
        outln!("{} distinct hosts", report.final_state.distinct_hosts);
        let l = &report.ledger;
        outln!(
            "ledgers: {} views, {} conflicting names; nodes differing at heal {}, 30 s after {}, at end {}; losing registrations' instances 30 s after heal {}, at end {}; sync sent {} actions in {} exchanges",
            l.views,
            l.conflicts,
            l.nodes_differing_at_heal,
            l.nodes_differing_30s_after_heal,
            l.nodes_differing_at_end,
            l.loser_instances_30s_after_heal,
            l.loser_instances_at_end,
            l.sync_actions_sent,
            l.sync_exchanges
        );
        if let Some(u) = &report.unhealthy {
            outln!(
                "unhealthy: {} instances given up ({} apps); replaced p50 {:.1} s, p99 {:.1} s, max {:.1} s after the give-up; {} not replaced, {} taken back",
                u.given_up,
                u.affected_apps,
                u.time_to_replace_s.p50,
                u.time_to_replace_s.p99,
                u.time_to_replace_s.max,
                u.not_recovered,
                u.taken_back
            );
        }
        if let Some(u) = &report.update {
            print_update(u);
        }
        outln!("digest {}", report.digest);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `update` section of the summary.
fn print_update(u: &UpdateReport) {
    let t = &u.time_to_updated_s;
    let at_least: Vec<String> = u
        .fewest_at_least_n_minus
        .iter()
        .enumerate()
        .map(|(k, apps)| format!("N-{k}: {apps}"))
        .collect();
    outln!(
        "update: {} apps at {} s; fully updated p50 {:.1} s, p99 {:.1} s, max {:.1} s after it; never {}; reverted {}",
        u.apps_updated,
        u.at_s,
        t.p50,
        t.p99,
        t.max,
        u.never_updated,
        u.reverted
    );
    outln!(
        "update: fewest serving during a rollout {} (apps whose fewest was at least {})",
        u.fewest_healthy_min,
        at_least.join(", ")
    );
    if !u.below_n_minus_1.is_empty() {
        outln!(
            "update: below N-1 during the rollout: {}",
            u.below_n_minus_1.join(", ")
        );
    }
    for g in &u.by_instances {
        let t = &g.time_to_updated_s;
        outln!(
            "update: {} apps of {} instances: fully updated p50 {:.1} s, max {:.1} s; never {}; fewest N-k for k = 0, 1, …: {:?}",
            g.apps,
            g.instances,
            t.p50,
            t.max,
            g.never_updated,
            g.fewest_n_minus
        );
    }
}

/// Runs `n` seeded trials of `config` and prints the ledger and partition figures summed
/// over them; fails (exit 1) when any node's ledger still differs 30 s after a heal or
/// any app is above N then.
fn trials(config: SimConfig, n: u64) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (mut differing_heal, mut differing_30, mut differing_end) = (0usize, 0usize, 0usize);
    let (mut above_30, mut above_end, mut losers_30, mut losers_end) = (0usize, 0usize, 0u64, 0u64);
    let (mut conflicts, mut sync_actions, mut bad_seeds) = (0usize, 0u64, Vec::new());
    for i in 0..n {
        let mut c = config.clone();
        c.seed = config.seed + i;
        let r = scheduler::sim::run(&c).context("invalid simulation flags")?;
        let l = &r.ledger;
        let (a30, aend) = r
            .partition
            .as_ref()
            .map_or((0, r.final_state.apps_above_n), |p| {
                (p.apps_above_n_30s_after_heal, p.apps_above_n_at_end)
            });
        differing_heal += l.nodes_differing_at_heal;
        differing_30 += l.nodes_differing_30s_after_heal;
        differing_end += l.nodes_differing_at_end;
        above_30 += a30;
        above_end += aend;
        losers_30 += l.loser_instances_30s_after_heal;
        losers_end += l.loser_instances_at_end;
        conflicts += l.conflicts;
        sync_actions += l.sync_actions_sent;
        if l.nodes_differing_30s_after_heal > 0 || a30 > 0 {
            bad_seeds.push(c.seed);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    outln!(
        "{n} trials of {} nodes x {} apps ({} conflicting names each), loss {}, partition {:?}, in {wall:.1} s wall",
        config.nodes,
        config.apps,
        config.conflicts,
        config.loss,
        config.partition
    );
    outln!(
        "nodes whose ledger differs: {differing_heal} at the heals, {differing_30} 30 s after, {differing_end} at the ends"
    );
    outln!("apps above N: {above_30} 30 s after the heals, {above_end} at the ends");
    outln!(
        "instances of a losing registration: {losers_30} 30 s after the heals, {losers_end} at the ends ({conflicts} conflicting names in all)"
    );
    outln!("anti-entropy sent {sync_actions} actions in all");
    if bad_seeds.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        outln!("seeds with a difference or an app above N 30 s after the heal: {bad_seeds:?}");
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_parse_and_bad_ones_name_the_part() {
        let k = parse_kill("5@300").unwrap();
        assert_eq!((k.percent, k.at_s), (5.0, 300));
        assert!(parse_kill("5").unwrap_err().contains("PERCENT@SECONDS"));
        assert!(parse_kill("x@3").unwrap_err().contains("PERCENT"));
        assert!(parse_kill("150@3").unwrap_err().contains("0..=100"));
        let p = parse_partition("50/50@300-600").unwrap();
        assert_eq!((p.a, p.b, p.from_s, p.to_s), (50, 50, 300, 600));
        assert!(parse_partition("50/50@600-300").unwrap_err().contains("T1"));
        assert!(parse_partition("0/50@1-2").unwrap_err().contains("above 0"));
        assert!(parse_partition("50@1-2").unwrap_err().contains("A/B@T1-T2"));
        assert!(parse_strategy("random").unwrap_err().contains("bidding"));
        let u = parse_update("100@300").unwrap();
        assert_eq!((u.apps, u.at_s), (100, 300));
        assert!(parse_update("0@300").unwrap_err().contains("at least 1"));
        assert!(parse_update("100").unwrap_err().contains("APPS@SECONDS"));
    }
}
