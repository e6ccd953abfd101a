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
    /// Work with Flux app specifications.
    Spec(cli::spec::SpecArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Spec(args) => cli::spec::run(args),
    }
}
