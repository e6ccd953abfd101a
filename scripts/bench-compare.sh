#!/usr/bin/env bash
# `fluxnode bench` side by side with the reference tools, in one run on one machine:
#   CPU:  sysbench cpu --cpu-max-prime=<our prime bound> --threads=T --time=S run
#         (T = our thread count, then 1 thread), against our eps / eps_single;
#   disk: dd if=/dev/zero of=FILE bs=1M count=N oflag=direct, against our write_mbs.
# Prints each pair and the ratio ours / reference. Our headline EPS counts the CPU time the
# threads got; sysbench counts wall time, so on a busy host compare the "wall" ratio.
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

if ! command -v sysbench >/dev/null 2>&1; then
    echo "installing sysbench" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sysbench >/dev/null
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

sysbench_eps() {
    LC_ALL=C sysbench cpu --cpu-max-prime="$bound" --threads="$1" --time="$sysbench_time" run |
        awk '/events per second:/ {print $4}'
}
sb_multi=$(sysbench_eps "$threads")
sb_single=$(sysbench_eps 1)

# dd's summary line: "<bytes> bytes (...) copied, <seconds> s, <rate>"; the rate is
# recomputed from bytes and seconds in MB/s (10^6 bytes), the unit dd and we print.
dd_line=$(LC_ALL=C dd if=/dev/zero of="$ddfile" bs=1M count="$dd_count" oflag=direct 2>&1 | tail -n1)
dd_mbs=$(awk -v line="$dd_line" 'BEGIN {
    n = split(line, f, " "); for (i = 1; i <= n; i++) if (f[i] == "copied,") secs = f[i + 1];
    printf "%.1f", f[1] / 1e6 / secs }')
rm -f "$ddfile"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

jq -r --arg sbm "$sb_multi" --arg sbs "$sb_single" --arg dd "$dd_mbs" --arg t "$sysbench_time" --arg n "$dd_count" '
  def r: . * 100 | round / 100;
  "prime bound \(.cpu.prime_bound), \(.cpu.threads) threads, io mode \(.disk.io_mode), dir \(.inventory.disk.path)",
  "cpu eps (\(.cpu.threads) threads): fluxnode \(.cpu.eps | r) (wall \(.cpu.eps_wall | r))  sysbench(\($t) s) \($sbm)  ratio \(.cpu.eps / ($sbm | tonumber) | r) (wall \(.cpu.eps_wall / ($sbm | tonumber) | r))",
  "cpu eps (1 thread):   fluxnode \(.cpu.eps_single | r) (wall \(.cpu.eps_single_wall | r))  sysbench(\($t) s) \($sbs)  ratio \(.cpu.eps_single / ($sbs | tonumber) | r) (wall \(.cpu.eps_single_wall / ($sbs | tonumber) | r))",
  "disk write MB/s:      fluxnode \(.disk.write_mbs | r)  dd(\($n) MiB, oflag=direct) \($dd)  ratio \(.disk.write_mbs / ($dd | tonumber) | r)"
' "$ours"
