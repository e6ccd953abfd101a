//! Command-line front ends. Each submodule owns one subcommand: its clap arguments and
//! the function that runs it and returns the process exit code.

pub mod bench;
pub mod key;
pub mod run;
pub mod schedule;
pub mod sim;
pub mod spec;
