use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Simulate the placement protocol (or FluxOS's behaviour) at scale, deterministically.
    Sim(fluxnode::cli::sim::SimArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => fluxnode::cli::run::run(args),
        Command::Sim(args) => fluxnode::cli::sim::run(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}
