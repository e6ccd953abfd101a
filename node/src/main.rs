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
    /// Measure this host (CPU, RAM, disk), classify its tier and print the report.
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Bench(args) => cli::bench::run(&args),
    }
}
