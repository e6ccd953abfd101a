//! `fluxnode run`: the daemon.

use std::process::ExitCode;

use crate::config::{Config, RunArgs};

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args)?;
    if args.print_config {
        print!("{}", config.to_toml()?);
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::bail!(
        "this build has no daemon service yet; use --print-config to check a configuration"
    )
}
