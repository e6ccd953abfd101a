//! Command-line front ends. Each submodule owns one subcommand: its clap arguments and
//! the function that runs it and returns the process exit code.

/// `print!` for the client commands: a closed pipe ends the command quietly (see [`out`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

/// `outln!` for the client commands: a closed pipe ends the command quietly (see [`out`]).
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod app;
pub mod bench;
pub mod doctor;
pub mod explain;
pub mod ingress;
pub mod key;
pub mod out;
pub mod remote;
pub mod run;
pub mod schedule;
pub mod sim;
pub mod spec;
pub mod status;
