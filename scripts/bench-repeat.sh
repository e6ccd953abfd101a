#!/usr/bin/env bash
# Repeatability of `fluxnode bench`: builds the release binary once, runs N full benches
# and prints mean, median and coefficient of variation (sample stddev / mean) per figure.
#
#   scripts/bench-repeat.sh [N] [-- BENCH ARGS]     N defaults to 5
#   scripts/bench-repeat.sh 5 -- --dir /var/lib/fluxnode
#
# FLUXNODE_BIN=/path/to/fluxnode skips the build. Needs python3 for the statistics.
# The runs are only as repeatable as the machine is quiet: the load average before and
# after is printed so the conditions can be reported with the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

if [ -z "${FLUXNODE_BIN:-}" ]; then
    cargo build --release -p fluxnode >&2
    FLUXNODE_BIN=target/release/fluxnode
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "binary: $FLUXNODE_BIN; runs: $runs; args: $*"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$runs"); do
    "$FLUXNODE_BIN" bench --json "$@" >"$out/run$i.json"
    echo "run $i done"
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$out"/run*.json <<'PY'
import json, statistics, sys

reports = [json.load(open(p)) for p in sys.argv[1:]]
figures = [
    ("cpu.eps", "events/s"),
    ("cpu.eps_single", "events/s"),
    ("cpu.eps_wall", "events/s"),
    ("cpu.eps_single_wall", "events/s"),
    ("ram.copy_mbs", "MB/s"),
    ("disk.write_mbs", "MB/s"),
    ("disk.random_write_iops", "IOPS"),
    ("bench_score", ""),
    ("duration_secs", "s"),
]

def get(report, dotted):
    for key in dotted.split("."):
        report = report[key]
    return float(report)

print(f"{'figure':<24}{'mean':>12}{'median':>12}{'CV %':>8}   values")
for name, unit in figures:
    values = [get(r, name) for r in reports]
    mean = statistics.fmean(values)
    cv = statistics.stdev(values) / mean * 100 if mean else float("nan")
    shown = " ".join(f"{v:.1f}" for v in values)
    print(f"{name:<24}{mean:>12.1f}{statistics.median(values):>12.1f}{cv:>8.2f}   {shown} {unit}")
first = reports[0]
print(f"threads {first['cpu']['threads']}, io {first['disk']['io_mode']}, "
      f"dir {first['inventory']['disk']['path']}, tier {first['tier']['result']}, "
      f"bench version {first['version']}")
PY
