#!/usr/bin/env bash
# The whole test suite, as CI runs it, from a fresh machine: installs what the tests need,
# starts a local image registry, checks formatting and lints, runs every test, cleans up.
#
#   scripts/test.sh            everything
#   scripts/test.sh -- ARGS    only `cargo test` (both tiers) with extra arguments, e.g.
#                              `scripts/test.sh -- -p fluxnode --test daemon_expiry`
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n==> %s\n' "$*"; }

# shellcheck source=scripts/lib/registry.sh
source scripts/lib/registry.sh

cleanup() {
    status=$?
    # Containers, networks and volumes created by tests carry this label; remove any that a
    # failed test left behind.
    docker ps -aq --filter label=io.fluxnode.test=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter label=io.fluxnode.test=1 | xargs -r docker network rm >/dev/null 2>&1 || true
    docker volume ls -q --filter label=io.fluxnode.test=1 | xargs -r docker volume rm >/dev/null 2>&1 || true
    registry_down
    exit $status
}
trap cleanup EXIT

log "installing test dependencies"
# curl for readiness checks; Debian's prometheus for promtool (the metrics tests run
# `promtool check metrics` on the daemon's /metrics output).
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# mmdebstrap builds the Debian root file system the systemd boot check runs systemd in.
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
# Debian's haproxy: the ingress tests run the real one (with its Prometheus exporter).
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

log "starting the local image registry"
registry_up
registry_push_busybox

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "building the static fluxnode for container tests"
FLUXNODE_STATIC_BIN=$(scripts/build-static.sh)
export FLUXNODE_STATIC_BIN

log "cargo test (both tiers: --include-ignored runs the full-tier tests too)"
# Tests that need Docker, the registry, promtool, systemd or running daemons are marked
# #[ignore = "full tier: ..."], so a plain `cargo test` is the fast tier; here they all run.
# In filter mode, arguments before a `--` go to cargo, those after it to the test binaries.
filtered=0
if [ "${1:-}" = "--" ]; then
    shift
    filtered=1
fi
cargo_args=()
test_args=(--include-ignored)
while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then
        shift
        test_args+=("$@")
        break
    fi
    cargo_args+=("$1")
    shift
done
cargo test --workspace --locked --no-fail-fast "${cargo_args[@]}" -- "${test_args[@]}"
[ "$filtered" = 1 ] && exit 0

log "Prometheus configuration, alert rules and dashboard queries"
scripts/check-prometheus.sh

log "systemd unit: verify, security exposure, install script idempotence"
scripts/check-systemd.sh

log "systemd as PID 1 in a container: start after READY=1, watchdog restart, stop, journal"
scripts/check-systemd-boot.sh

log "end-to-end scenarios on a 5-node testnet"
scripts/e2e.sh
