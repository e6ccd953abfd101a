#!/usr/bin/env bash
# Builds a statically linked release `fluxnode` (glibc, crt-static) that runs in a
# FROM-scratch image, and prints the binary's path on stdout (build output goes to stderr).
#
# A separate target dir keeps this build from waiting on (or invalidating) the cargo lock
# and artefacts of a `cargo test` that calls this script. `--target` is explicit so that
# RUSTFLAGS apply only to the target binary, not to build scripts and proc macros.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release -p fluxnode --target "$target" --target-dir target/static >&2
echo "$(pwd)/target/static/$target/release/fluxnode"
