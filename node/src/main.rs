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
    /// Create or inspect the node key (its libp2p identity and message-signing key).
    Key(fluxnode::cli::key::KeyArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Key(args) => fluxnode::cli::key::run(args),
    }
}
