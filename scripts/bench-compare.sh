#!/usr/bin/env bash
# `fluxnode bench` side by side with the reference tools, in one run on one machine:
#   CPU:  sysbench cpu --cpu-max-prime=<our prime bound> --threads=T --time=S run
#         (T = our thread count, then 1 thread), against our eps / eps_single;
#   disk: dd if=/dev/zero of=FILE bs=1M count=N oflag=direct, against our write_mbs.
# Prints each pair and the ratio ours / reference. Our headline EPS counts events per second
# of CPU time the threads got, sysbench prints events per wall-clock second; both are
# compared like for like (sysbench's CPU time comes from bash's `time`). On an idle host
# the wall and CPU-time figures coincide.
#
#   scripts/bench-compare.sh [--dir DIR]     DIR defaults to the current directory
#
# Installs sysbench (Debian package) when absent. FLUXNODE_BIN=/path skips the build.
# SYSBENCH_TIME (default 10 s) and DD_COUNT (default 1024 MiB) size the reference runs.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.
if [ "${1:-}" = "--dir" ]; then dir=$2; fi
sysbench_time=${SYSBENCH_TIME:-10}
dd_count=${DD_COUNT:-1024}

need=()
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -z "${FLUXNODE_BIN:-}" ]; then
    cargo build --release -p fluxnode >&2
    FLUXNODE_BIN=target/release/fluxnode
fi
ddfile="$dir/.fluxnode-compare-dd.$$"
ours=$(mktemp)
trap 'rm -f "$ddfile" "$ours"' EXIT

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$FLUXNODE_BIN" bench --json --dir "$dir" >"$ours"
bound=$(jq -r .cpu.prime_bound "$ours")
threads=$(jq -r .cpu.threads "$ours")

# Runs sysbench and prints "<events/s wall> <events/s per CPU-second, summed over threads>".
# The second figure is what our headline EPS measures (events per second of CPU time the
# threads got); bash's `time` gives sysbench's user + system CPU time.
sysbench_eps() {
    local threads=$1 log cpu
    log=$(mktemp)
    cpu=$( { TIMEFORMAT='%U %S'; time LC_ALL=C sysbench cpu --cpu-max-prime="$bound" \
        --threads="$threads" --time="$sysbench_time" run >"$log"; } 2>&1 )
    awk -v cpu="$cpu" -v threads="$threads" '
        /events per second:/ { wall = $4 }
        /total number of events:/ { events = $5 }
        END { split(cpu, t, " "); printf "%s %.2f\n", wall, events / (t[1] + t[2]) * threads }' "$log"
    rm -f "$log"
}
read -r sb_multi sb_multi_cpu < <(sysbench_eps "$threads")
read -r sb_single sb_single_cpu < <(sysbench_eps 1)

# dd's summary line: "<bytes> bytes (...) copied, <seconds> s, <rate>"; the rate is
# recomputed from bytes and seconds in MB/s (10^6 bytes), the unit dd and we print.
dd_line=$(LC_ALL=C dd if=/dev/zero of="$ddfile" bs=1M count="$dd_count" oflag=direct 2>&1 | tail -n1)
dd_mbs=$(awk -v line="$dd_line" 'BEGIN {
    n = split(line, f, " "); for (i = 1; i <= n; i++) if (f[i] == "copied,") secs = f[i + 1];
    printf "%.1f", f[1] / 1e6 / secs }')
rm -f "$ddfile"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

jq -r --arg sbm "$sb_multi" --arg sbs "$sb_single" --arg sbmc "$sb_multi_cpu" \
    --arg sbsc "$sb_single_cpu" --arg dd "$dd_mbs" --arg t "$sysbench_time" --arg n "$dd_count" '
  def r: . * 100 | round / 100;
  def ratio(a; b): (a / (b | tonumber)) | r;
  "prime bound \(.cpu.prime_bound), \(.cpu.threads) threads, io mode \(.disk.io_mode), dir \(.inventory.disk.path)",
  "                          fluxnode   sysbench(\($t) s)   ratio",
  "cpu eps \(.cpu.threads) threads, wall      \(.cpu.eps_wall | r)   \($sbm)   \(ratio(.cpu.eps_wall; $sbm))",
  "cpu eps \(.cpu.threads) threads, CPU-time  \(.cpu.eps | r)   \($sbmc)   \(ratio(.cpu.eps; $sbmc))",
  "cpu eps 1 thread, wall       \(.cpu.eps_single_wall | r)   \($sbs)   \(ratio(.cpu.eps_single_wall; $sbs))",
  "cpu eps 1 thread, CPU-time   \(.cpu.eps_single | r)   \($sbsc)   \(ratio(.cpu.eps_single; $sbsc))",
  "                          fluxnode   dd(\($n) MiB, oflag=direct)   ratio",
  "disk write MB/s              \(.disk.write_mbs | r)   \($dd)   \(ratio(.disk.write_mbs; $dd))"
' "$ours"
