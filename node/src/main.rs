use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fluxnode::cli;

/// fluxnode: host Flux apps on this machine, bidding for them in an explicit market.
#[derive(Debug, Parser)]
#[command(name = "fluxnode", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node daemon.
    Run(fluxnode::config::RunArgs),
    /// Create or inspect the node key (its libp2p identity and message-signing key).
    Key(cli::key::KeyArgs),
    /// Work with Flux app specifications.
    Spec(cli::spec::SpecArgs),
    /// Place apps on nodes from JSON files with the deterministic scheduler.
    Schedule(cli::schedule::ScheduleArgs),
    /// Measure this host (CPU, RAM, disk), classify its tier and print the report.
    Bench(cli::bench::BenchArgs),
    /// Simulate the placement protocol over thousands of nodes in one process.
    Sim(cli::sim::SimArgs),
    /// Register, renew, cancel and inspect apps through a running daemon's API.
    App(cli::app::AppArgs),
    /// Show what the running daemon reports about this node.
    Status(cli::status::StatusArgs),
    /// List the running daemon's peers.
    Peers(cli::status::PeersArgs),
    /// Check that this host can run the daemon, or that the running one is healthy.
    Doctor(cli::doctor::DoctorArgs),
    /// Run an HAProxy ingress that reaches the network's apps by name.
    Ingress(cli::ingress::IngressArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => report(cli::run::run(args)),
        Command::Key(args) => cli::key::run(args),
        Command::Spec(args) => cli::spec::run(args),
        Command::Schedule(args) => report(cli::schedule::run(args)),
        Command::Bench(args) => cli::bench::run(&args),
        Command::Sim(args) => report(cli::sim::run(args)),
        Command::App(args) => report(cli::app::run(args)),
        Command::Status(args) => report(cli::status::status(args)),
        Command::Peers(args) => report(cli::status::peers(args)),
        Command::Doctor(args) => report(cli::doctor::run(args)),
        Command::Ingress(args) => report(cli::ingress::run(args)),
    }
}

/// Prints a command's error for the operator; exit code 2 means "could not do the job".
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}
