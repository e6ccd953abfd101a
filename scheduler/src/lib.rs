//! Pure placement logic for fluxnode: no I/O, no clock, no async runtime. `now` is always
//! an argument, so every decision is a function of its inputs.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
