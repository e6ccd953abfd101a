# shellcheck shell=bash
# Pieces of scripts/scale.sh: network namespaces, daemons, the container monitor. Source it.
#
# Topology: one Linux bridge (fxscale-br0, 10.197.0.1/24) on the host; node i lives in the
# network namespace fluxnode-scale-i with one end of a veth pair (host end fxscale-i, the
# other end renamed eth0 inside) and the address 10.197.0.(10+i). Every daemon listens on
# its own address (libp2p 16125, API 16127), so peers see N distinct source addresses, not
# one loopback. The daemons share the host's Docker engine through its Unix socket (a
# filesystem path, reachable from any namespace); the engine pulls from the local registry
# on the host's 127.0.0.1:5000.
#
# Names: namespaces and state are fluxnode-scale-*; interface names are limited to 15
# characters, so the bridge and veths are fxscale-*. Docker objects carry io.fluxnode.test=1
# and io.fluxnode.scale=<run>; the one iptables rule (bridged traffic passes FORWARD, whose
# policy Docker sets to DROP) carries the comment fluxnode-scale.

SC_NET=10.197.0
SC_BRIDGE=fxscale-br0
SC_NS_PREFIX=fluxnode-scale-
SC_COMMENT=fluxnode-scale
SC_P2P_PORT=16125
SC_API_PORT=16127
# App networks come from a pool of the run's own (a /24 per app), not the default
# 172.23.0.0/16 other tests on this engine use.
SC_APP_POOL=10.196.0.0/16
SC_GEOS=(EU_DE_HE NA_US_CA AS_JP_13 EU_FR_IDF OC_AU_NSW)

sc_log() { printf '[scale %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
sc_die() { sc_log "error: $*"; exit 1; }
sc_now() { date +%s.%N; }
sc_ip() { echo "$SC_NET.$((10 + $1))"; }
sc_ns() { echo "$SC_NS_PREFIX$1"; }
sc_api() { echo "http://$(sc_ip "$1"):$SC_API_PORT"; }
sc_geo() { echo "${SC_GEOS[$((($1 - 1) % ${#SC_GEOS[@]}))]}"; }

# --- host settings -----------------------------------------------------------------------

# Raises the neighbour-table limits (one table for all namespaces; the defaults of
# 128/512/1024 overflowed at 40 namespaces) and remembers the old values for sc_restore.
sc_raise_neigh() {
    local k
    : >"$SC_STATE/sysctl.saved"
    for k in gc_thresh1 gc_thresh2 gc_thresh3; do
        echo "$k $(sysctl -n "net.ipv4.neigh.default.$k")" >>"$SC_STATE/sysctl.saved"
    done
    sysctl -q -w net.ipv4.neigh.default.gc_thresh1=4096 \
        net.ipv4.neigh.default.gc_thresh2=8192 net.ipv4.neigh.default.gc_thresh3=16384
}

sc_restore_neigh() {
    local k v
    [ -f "$SC_STATE/sysctl.saved" ] || return 0
    while read -r k v; do sysctl -q -w "net.ipv4.neigh.default.$k=$v" || true; done <"$SC_STATE/sysctl.saved"
    rm -f "$SC_STATE/sysctl.saved"
}

# --- namespaces ---------------------------------------------------------------------------

sc_net_up() {
    local n=$1 i ns
    ip link add "$SC_BRIDGE" type bridge
    ip addr add "$SC_NET.1/24" dev "$SC_BRIDGE"
    ip link set "$SC_BRIDGE" up
    iptables -I FORWARD 1 -i "$SC_BRIDGE" -o "$SC_BRIDGE" -m comment --comment "$SC_COMMENT" -j ACCEPT
    for i in $(seq 1 "$n"); do
        ns=$(sc_ns "$i")
        ip netns add "$ns"
        ip link add "fxscale-$i" type veth peer name "fxscale-$i-p"
        ip link set "fxscale-$i-p" netns "$ns"
        ip -n "$ns" link set "fxscale-$i-p" name eth0
        ip -n "$ns" addr add "$(sc_ip "$i")/24" dev eth0
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
        ip link set "fxscale-$i" master "$SC_BRIDGE"
        ip link set "fxscale-$i" up
    done
}

# Removes every namespace, veth, bridge and rule of ours, from this run or a crashed one.
sc_net_down() {
    local ns l
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$SC_NS_PREFIX" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^fxscale-' || true); do
        ip link del "$l" 2>/dev/null || true
    done
    while iptables -D FORWARD -i "$SC_BRIDGE" -o "$SC_BRIDGE" -m comment --comment "$SC_COMMENT" -j ACCEPT 2>/dev/null; do :; done
}

# --- Docker objects -------------------------------------------------------------------------

# Every container, network and volume of scale runs (this one or a crashed one).
sc_docker_clean() {
    local ids
    ids=$(docker ps -aq --filter label=io.fluxnode.scale)
    [ -z "$ids" ] || docker rm -f -v $ids >/dev/null 2>&1 || true
    ids=$(docker network ls -q --filter label=io.fluxnode.scale)
    [ -z "$ids" ] || docker network rm $ids >/dev/null 2>&1 || true
    ids=$(docker volume ls -q --filter label=io.fluxnode.scale)
    [ -z "$ids" ] || docker volume rm -f $ids >/dev/null 2>&1 || true
    # The daemons' fixed-size volumes are loop devices: a stopped or killed daemon leaves
    # them attached (a restart reuses them), so the run detaches every one backed by its
    # state directory (three runs had left 1,057 attached).
    losetup -n -l -O NAME,BACK-FILE 2>/dev/null |
        awk -v d="$SC_STATE/" 'index($2, d) == 1 { print $1 }' |
        xargs -r -n 50 losetup -d 2>/dev/null || true
}

# --- daemons --------------------------------------------------------------------------------

# sc_start NODE fresh|same [extra daemon args...]: starts node NODE's daemon in its
# namespace, with a new data directory and key (`fresh`: a new or replaced machine) or the
# last one (`same`: a restart), and records its pid.
sc_start() {
    local i=$1 mode=$2 gen dir ns boot=() j before pool=()
    shift 2
    # The run's app pool unless the caller gives its own (the daemon refuses the flag twice).
    [[ " $* " == *" --docker-app-subnet-pool "* ]] || pool=(--docker-app-subnet-pool "$SC_APP_POOL")
    gen=$(cat "$SC_STATE/n$i.gen" 2>/dev/null || echo 0)
    if [ "$mode" = fresh ] || [ "$gen" = 0 ]; then
        gen=$((gen + 1))
        echo "$gen" >"$SC_STATE/n$i.gen"
    fi
    dir=$SC_STATE/n$i.$gen
    ns=$(sc_ns "$i")
    before=$({ cat "$dir/daemon.log" 2>/dev/null | grep -c 'API listening'; } || true)
    if [ ! -f "$dir/node.key" ]; then
        mkdir -p "$dir"
        "$SC_BIN" key generate --out "$dir/node.key" >"$dir/node.id"
    fi
    # Bootstrap: the first three nodes (a node never lists itself).
    for j in 1 2 3; do
        [ "$j" = "$i" ] || [ "$j" -gt "$SC_N" ] || boot+=(--bootstrap "/ip4/$(sc_ip "$j")/tcp/$SC_P2P_PORT")
    done
    # `ip netns exec` and `nice` exec the daemon: $! is the daemon's own pid.
    ip netns exec "$ns" nice -n 10 "$SC_BIN" run \
        --data-dir "$dir" --key-file "$dir/node.key" --geo "$(sc_geo "$i")" \
        --advertise-addr "$(sc_ip "$i")" --listen "/ip4/$(sc_ip "$i")/tcp/$SC_P2P_PORT" \
        --api-listen "$(sc_ip "$i"):$SC_API_PORT" --tier-profile testnet --bench-quick true \
        --mdns false --docker-label "io.fluxnode.test=1,io.fluxnode.scale=$SC_RUN" \
        --docker-name-suffix "_fxs$i" --docker-loopback-registry "$SC_REGISTRY" \
        "${pool[@]}" "${boot[@]}" "$@" \
        >/dev/null 2>>"$dir/daemon.log" 9>&- &
    echo $! >"$SC_STATE/n$i.pid"
    disown $!
    cp "$dir/node.id" "$SC_STATE/n$i.id"
    echo "$dir" >"$SC_STATE/n$i.dir"
    # One benchmark at a time: run together on two cores, 20 benchmarks of one machine
    # scored 58–190, three times apart, and the nodes were no longer comparable. The API
    # listens once the benchmark is done (up to 60 s).
    for _ in $(seq 1 300); do
        [ "$({ cat "$dir/daemon.log" 2>/dev/null | grep -c 'API listening'; } || true)" -gt "$before" ] && break
        kill -0 "$(cat "$SC_STATE/n$i.pid")" 2>/dev/null || break
        sleep 0.2
    done
}

sc_pid() { cat "$SC_STATE/n$1.pid" 2>/dev/null || true; }
sc_id() { cat "$SC_STATE/n$1.id"; }
sc_alive() { local p; p=$(sc_pid "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# Node number of a node id.
sc_index_of() {
    local f
    f=$(grep -lx "$1" "$SC_STATE"/n*.id 2>/dev/null | head -1)
    [ -n "$f" ] && basename "$f" .id | sed 's/^n//'
}

# SIGKILL (a host failure) of node NODE's daemon.
sc_kill9() {
    local p
    p=$(sc_pid "$1")
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
    [ -n "$p" ] && while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
    rm -f "$SC_STATE/n$1.pid"
}

# SIGTERM and wait (up to 40 s, then SIGKILL).
sc_stop() {
    local p k
    p=$(sc_pid "$1")
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null || true
    for k in $(seq 1 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    rm -f "$SC_STATE/n$1.pid"
}

sc_stop_all() {
    local f p
    for f in "$SC_STATE"/n*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        kill -9 "$p" 2>/dev/null || true
        rm -f "$f"
    done
}

sc_get() { curl -fsS -m 3 "$(sc_api "$1")$2" 2>/dev/null; }

# Waits until every live node answers and sees every other live node; prints the seconds.
sc_wait_mesh() {
    local timeout=$1 start ok i live want
    start=$(sc_now)
    while :; do
        live=0 ok=0
        for i in $(seq 1 "$SC_N"); do sc_alive "$i" && live=$((live + 1)); done
        want=$((live - 1))
        for i in $(seq 1 "$SC_N"); do
            sc_alive "$i" || continue
            [ "$(sc_get "$i" /api/v1/node | jq -r '.peers // 0' 2>/dev/null || echo 0)" -ge "$want" ] 2>/dev/null && ok=$((ok + 1))
        done
        if [ "$ok" = "$live" ]; then
            awk -v a="$start" -v b="$(sc_now)" 'BEGIN { printf "%.1f\n", b - a }'
            return 0
        fi
        if awk -v a="$start" -v b="$(sc_now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then
            sc_log "mesh incomplete after ${timeout}s: $ok of $live nodes see $want peers"
            return 1
        fi
        sleep 0.5
    done
}

# --- the container monitor ------------------------------------------------------------------

# Samples the engine's running containers of this run (but those of killed nodes) every
# 0.2 s into $SC_STATE/samples:
# `TIME APP COUNT` lines, plus `TIME - 0` so that empty samples are visible.
sc_monitor_start() {
    (
        while :; do
            t=$(date +%s.%N)
            # Containers of killed nodes (listed in dead_ids) count as gone.
            docker ps --filter "label=io.fluxnode.scale=$SC_RUN" \
                --format '{{.Label "io.fluxnode.app"}} {{.Label "io.fluxnode.node"}}' 2>/dev/null |
                awk -v t="$t" -v dead="$SC_STATE/dead_ids" '
                    BEGIN { while ((getline d < dead) > 0) gone[d] = 1 }
                    !($2 in gone) { c[$1]++ }
                    END { print t, "-", 0; for (a in c) print t, a, c[a] }'
            sleep 0.2
        done
    ) >>"$SC_STATE/samples" 9>&- &
    echo $! >"$SC_STATE/monitor.pid"
}

sc_monitor_stop() {
    local p
    p=$(cat "$SC_STATE/monitor.pid" 2>/dev/null || true)
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
    rm -f "$SC_STATE/monitor.pid"
}

# Latest sampled count of APP (0 when absent from the latest sample).
sc_count() {
    awk -v a="$1" '$2 == "-" { t = $1; c = 0 } $2 == a && $1 == t { c = $3 } END { print c + 0 }' "$SC_STATE/samples"
}

# sc_first_at APP WANT SINCE: first sample time at or after SINCE with APP at WANT running.
sc_first_at() {
    awk -v a="$1" -v w="$2" -v s="$3" '
        $1 < s { next }
        $2 == "-" { if (t != "" && c == w && !done) { print t; done = 1 } t = $1; c = 0; next }
        $2 == a { c = $3 }
        END { if (!done && t != "" && c == w) print t }' "$SC_STATE/samples"
}

# Highest count ever sampled of each app, `APP MAX` lines.
sc_max_counts() {
    awk '$2 != "-" { if ($3 > m[$2]) m[$2] = $3 } END { for (a in m) print a, m[a] }' "$SC_STATE/samples"
}

# median of numbers on stdin (one per line); `-` when none.
sc_median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
sc_max() { sort -g | tail -1 | awk '{ printf "%.1f\n", $1 } END { if (NR == 0) print "-" }'; }
