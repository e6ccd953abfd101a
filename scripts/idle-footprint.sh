#!/usr/bin/env bash
# Idle footprint of one daemon with 5 peers: resident memory and CPU share over a minute.
#
#   scripts/idle-footprint.sh [SECONDS]      default 60
#
# Starts 6 daemons of the static release build on 127.0.0.81-86 (single host, loopback
# only), waits until the first sees its 5 peers and has settled, then samples its
# /proc/PID/status VmRSS and /proc/PID/stat utime+stime over the window. Cleans up on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-60}
bin=${FLUXNODE_STATIC_BIN:-$(scripts/build-static.sh)}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

geos=(EU_DE_HE NA_US_CA AS_JP_13 EU_FR_IDF OC_AU_NSW SA_BR_SP)
for i in 0 1 2 3 4 5; do
    ip=127.0.0.$((81 + i))
    port=$((21800 + i))
    mkdir -p "$work/n$i"
    args=(run --data-dir "$work/n$i" --key-file "$work/n$i/node.key" --geo "${geos[$i]}"
        --advertise-addr "$ip" --listen "/ip4/$ip/tcp/$port" --api-listen "$ip:16127"
        --tier-profile testnet --bench-quick true --mdns false)
    [ "$i" -gt 0 ] && args+=(--bootstrap "/ip4/127.0.0.81/tcp/21800")
    RUST_LOG=warn "$bin" "${args[@]}" 2>"$work/n$i.log" &
    pids+=($!)
done
measured=${pids[0]}

echo "waiting for node 1 to see 5 peers..." >&2
for _ in $(seq 1 120); do
    peers=$(curl -sf http://127.0.0.81:16127/api/v1/node | sed -n 's/.*"peers":\([0-9]*\).*/\1/p' || true)
    [ "${peers:-0}" -ge 5 ] && break
    sleep 1
done
[ "${peers:-0}" -ge 5 ] || { echo "node 1 sees ${peers:-0} peers, not 5" >&2; exit 1; }
# Let start-up work (benchmark, first announcements, peer sync) finish before measuring.
sleep 20

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$measured/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$measured/status"; }
c0=$(cpu); t0=$(date +%s.%N)
max_rss=0
for _ in $(seq 1 "$window"); do
    r=$(rss_kb); [ "$r" -gt "$max_rss" ] && max_rss=$r
    sleep 1
done
c1=$(cpu); t1=$(date +%s.%N)
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" -v rss="$max_rss" -v p="$peers" 'BEGIN {
    printf "peers: %d\nresident memory (max over window): %.1f MB\nCPU: %.2f %% of one core over %.0f s\n",
        p, rss / 1024, 100 * (c1 - c0) / hz / (t1 - t0), t1 - t0
}'
