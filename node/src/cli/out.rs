//! Standard output for the client commands, ending quietly when the reader goes away.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe (`fluxnode app list | head`) returns
//! `BrokenPipe` and `outln!` panics on it. The reader closing the pipe means it has all
//! it wants, so the command stops there and exits 0: a script under `set -o pipefail` sees
//! `fluxnode … | head` succeed. Any other write error ends the command with exit 2 and a
//! message, as every other command error does.

use std::fmt;
use std::io::{self, Write};

/// Exit code for an output error other than a closed pipe ("could not do the job").
const WRITE_FAILED: i32 = 2;

/// Writes `args` to stdout (what `out!` / `outln!` expand to).
pub fn write(args: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        drop(stdout);
        stop(&e);
    }
}

/// Flushes stdout, with the same treatment of a closed pipe.
pub fn flush() {
    if let Err(e) = io::stdout().lock().flush() {
        stop(&e);
    }
}

fn stop(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {e}");
    std::process::exit(WRITE_FAILED);
}
