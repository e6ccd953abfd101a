//! Command-line front ends. Each submodule owns one subcommand: its clap arguments and
//! the function that runs it and returns the process exit code.

pub mod app;
pub mod bench;
pub mod doctor;
pub mod ingress;
pub mod key;
pub mod remote;
pub mod run;
pub mod schedule;
pub mod sim;
pub mod spec;
pub mod status;
