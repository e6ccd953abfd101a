#!/usr/bin/env bash
# N real fluxnode daemons on this machine, each in its own network namespace with its own
# address, sharing the host's Docker engine and the local registry; measures what the
# protocol does at that size and prints the simulator's figures for the same shape beside.
#
#   scripts/scale.sh N            N = 3..200 daemons (the README quotes 20 and 40)
#
# Phases (every figure is the median over apps and rounds, with the max):
#   mesh     start the daemons (staggered), time until every node sees N-1 peers; then
#            idle RSS and CPU per daemon and messages per node per second over 30 s
#   spread   30 single-instance apps registered through the nodes in turn, 0.5 s apart:
#            registration → 1 running, and how many distinct nodes host them
#   register ROUNDS rounds of APPS three-instance apps, one per node in turn, 1 s apart:
#            registration → 3 running
#   kill     ROUNDS times: SIGKILL the 3 hosts of one app at once and remove their
#            containers (the machines went down): kill → that app at 3 again, and → every
#            app at its count again; the dead nodes are then replaced (fresh keys, same
#            addresses) before the next round
#   failing  FAILING nodes restarted with an app subnet pool that is already full, so every
#            start on them fails; APPS three-instance apps registered: registration → 3
#            running, and the failed starts
# Throughout, a monitor samples the engine's running containers every 0.2 s: no app may
# ever run more instances than it asked for.
#
# Environment: FLUXNODE_SCALE_BIN (daemon binary; default target/debug/fluxnode, built when
# missing), FLUXNODE_SCALE_ROUNDS (3), FLUXNODE_SCALE_APPS (10), FLUXNODE_SCALE_FAILING
# (N/10, at least 1), FLUXNODE_SCALE_DIR (state and logs, default /tmp/fluxnode-scale),
# FLUXNODE_SCALE_KEEP=1 (leave the state directory). Needs root (namespaces, iptables).
# Takes /tmp/fluxnode-heavy.lock for the whole run; everything it creates (namespaces
# fluxnode-scale-*, interfaces fxscale-*, Docker objects labelled io.fluxnode.scale, the
# FORWARD rule commented fluxnode-scale, raised neighbour-table limits) is removed or
# restored on exit, also after a failure, and any leftover of a crashed run before starting.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
[[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 3 ] && [ "$1" -le 200 ] || { usage >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "scale.sh: needs root (network namespaces, iptables)" >&2; exit 2; }

if [ "${FLUXNODE_SCALE_LOCKED:-}" != 1 ]; then
    echo "[scale] waiting for /tmp/fluxnode-heavy.lock" >&2
    # -o: the lock stays with flock; no child of the script (the registry it may start)
    # holds it after the run.
    exec env FLUXNODE_SCALE_LOCKED=1 flock -o /tmp/fluxnode-heavy.lock "$0" "$@"
fi

SC_N=$1
SC_ROUNDS=${FLUXNODE_SCALE_ROUNDS:-3}
SC_APPS=${FLUXNODE_SCALE_APPS:-10}
SC_FAILING=${FLUXNODE_SCALE_FAILING:-$(((SC_N + 9) / 10))}
SC_SPREAD_APPS=30
SC_STATE=${FLUXNODE_SCALE_DIR:-/tmp/fluxnode-scale}
SC_RUN="$$-$(date +%s)"
SC_BIN=${FLUXNODE_SCALE_BIN:-$ROOT/target/debug/fluxnode}
# shellcheck source=scripts/lib/scale.sh
source "$ROOT/scripts/lib/scale.sh"
# shellcheck source=scripts/lib/registry.sh
source "$ROOT/scripts/lib/registry.sh"
SC_REGISTRY=$FLUXNODE_TEST_REGISTRY
SC_IMAGE=$SC_REGISTRY/fluxnode-test/busybox:latest

SC_REMOVALS=()
cleanup() {
    local rc=$?
    set +e
    sc_monitor_stop
    sc_stop_all
    # The background removals of killed hosts' containers first: a network whose
    # container is still being removed cannot be removed. (Only those: a bare `wait`
    # would also wait for the registry this script may have started, for ever.)
    [ ${#SC_REMOVALS[@]} = 0 ] || wait "${SC_REMOVALS[@]}" 2>/dev/null
    sc_docker_clean
    sc_docker_clean
    sc_net_down
    sc_restore_neigh
    [ "${SC_OWN_REGISTRY:-}" != 1 ] || registry_down
    [ "${FLUXNODE_SCALE_KEEP:-}" = 1 ] || [ "$rc" != 0 ] || rm -rf "$SC_STATE"
    [ "$rc" = 0 ] || sc_log "failed (exit $rc); logs in $SC_STATE"
    exit "$rc"
}

# --- preparation ------------------------------------------------------------------------------

for c in ip iptables docker jq curl flock awk; do
    command -v "$c" >/dev/null || sc_die "$c is not installed"
done
if [ ! -x "$SC_BIN" ]; then
    sc_log "building $SC_BIN"
    (cd "$ROOT" && nice -n 10 cargo build -q -p fluxnode)
fi
# Leftovers of a crashed run first (its daemons are gone with their namespaces' processes).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$SC_NS_PREFIX" || true); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
done
sc_net_down
sc_docker_clean
rm -rf "$SC_STATE"
mkdir -p "$SC_STATE"
trap cleanup EXIT
# A copy: a rebuild during the run must not give replacement nodes another binary.
cp "$SC_BIN" "$SC_STATE/fluxnode"
SC_BIN=$SC_STATE/fluxnode
trap 'exit 130' INT TERM

# A registry this run starts is stopped at its end; one that was running is left alone.
curl -fsS "http://$SC_REGISTRY/v2/" >/dev/null 2>&1 || SC_OWN_REGISTRY=1
registry_up
docker image inspect "$SC_IMAGE" >/dev/null 2>&1 &&
    curl -fsS "http://$SC_REGISTRY/v2/fluxnode-test/busybox/tags/list" >/dev/null 2>&1 ||
    registry_push_busybox
"$SC_BIN" key generate --out "$SC_STATE/owner.key" >/dev/null
sc_raise_neigh
sc_net_up "$SC_N"
sc_monitor_start

# A Flux v8 spec: INSTANCES copies of one small busybox component with no ports.
spec() {
    local name=$1 instances=$2
    jq -n --arg name "$name" --arg image "$SC_IMAGE" --argjson n "$instances" '{
        version: 8, name: $name, description: "fluxnode scale test app",
        owner: "0x0c894752ba986f3f6f081eeb05c1c4a482fe8717",
        compose: [{ name: "main", description: "sleeps", repotag: $image,
            ports: [], domains: [], environmentParameters: [], commands: ["sleep", "86400"],
            containerPorts: [], containerData: "/data", cpu: 0.1, ram: 100, hdd: 1,
            repoauth: "" }],
        instances: $n, contacts: [], geolocation: [], expire: 5000, nodes: [],
        staticip: false, enterprise: "" }' >"$SC_STATE/$name.json"
}

# register APP INSTANCES NODE: registers through NODE's API, records `APP INSTANCES TIME`.
register() {
    local app=$1 instances=$2 node=$3 t out
    spec "$app" "$instances"
    t=$(sc_now)
    if ! out=$("$SC_BIN" app register "$SC_STATE/$app.json" --key "$SC_STATE/owner.key" \
        --api "$(sc_api "$node")" 2>&1); then
        sc_die "register $app through node $node: $out"
    fi
    echo "$app $instances $t" >>"$SC_STATE/registered"
}

# A live node, the k-th in turn (skips dead ones).
nth_live() {
    local k=$1 i
    for _ in $(seq 1 "$SC_N"); do
        i=$(((k - 1) % SC_N + 1))
        sc_alive "$i" && { echo "$i"; return 0; }
        k=$((k + 1))
    done
    sc_die "no live node"
}

# wait_at_n TIMEOUT APP...: until each APP runs its wanted count (or the timeout).
wait_at_n() {
    local timeout=$1 start a w ok
    shift
    start=$(sc_now)
    while :; do
        ok=1
        for a in "$@"; do
            w=$(awk -v a="$a" '$1 == a { print $2 }' "$SC_STATE/registered")
            [ "$(sc_count "$a")" = "$w" ] || { ok=0; break; }
        done
        [ "$ok" = 1 ] && return 0
        awk -v a="$start" -v b="$(sc_now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }' && return 1
        sleep 0.5
    done
}

# Seconds from registration to first at N for each APP (one per line; `never` when not).
times_to_n() {
    local a w t at
    for a in "$@"; do
        read -r w t < <(awk -v a="$a" '$1 == a { print $2, $3 }' "$SC_STATE/registered")
        at=$(sc_first_at "$a" "$w" "$t")
        if [ -n "$at" ]; then awk -v a="$t" -v b="$at" 'BEGIN { printf "%.2f\n", b - a }'; else echo never; fi
    done
}

# The numbers of a figures file (`never` lines left out); nothing when there are none.
numbers() { grep -v never "$1" || true; }

metric_sum() {
    local name=$1 i total=0 v
    for i in $(seq 1 "$SC_N"); do
        sc_alive "$i" || continue
        v=$(sc_get "$i" /metrics | awk -v n="$name" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }')
        total=$(awk -v a="$total" -v b="${v:-0}" 'BEGIN { print a + b }')
    done
    echo "$total"
}

proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
proc_rss_mb() { awk '/^VmRSS/ { printf "%.0f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A FIG

# --- mesh ---------------------------------------------------------------------------------------

sc_log "starting $SC_N daemons in namespaces ${SC_NS_PREFIX}1..$SC_N (state $SC_STATE)"
t_start=$(sc_now)
for i in $(seq 1 "$SC_N"); do
    sc_start "$i" fresh
    sleep 0.2
done
FIG[mesh]=$(sc_wait_mesh 300) || sc_die "no full mesh; see $SC_STATE/n*/daemon.log"
FIG[mesh]=$(awk -v a="$t_start" -v b="$(sc_now)" 'BEGIN { printf "%.1f\n", b - a }')
sc_log "full mesh ${FIG[mesh]} s after the first start"

sleep 15
hz=$(getconf CLK_TCK)
declare -A T0
for i in $(seq 1 "$SC_N"); do T0[$i]=$(proc_ticks "$(sc_pid "$i")"); done
m0=$(metric_sum fluxnode_messages_received_total)
t0=$(sc_now)
sleep 30
t1=$(sc_now)
m1=$(metric_sum fluxnode_messages_received_total)
: >"$SC_STATE/idle"
for i in $(seq 1 "$SC_N"); do
    p=$(sc_pid "$i")
    echo "$(proc_rss_mb "$p") $(awk -v a="${T0[$i]}" -v b="$(proc_ticks "$p")" -v hz="$hz" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }')" >>"$SC_STATE/idle"
done
FIG[rss]=$(cut -d' ' -f1 "$SC_STATE/idle" | sc_median)
FIG[rss_max]=$(cut -d' ' -f1 "$SC_STATE/idle" | sc_max)
FIG[cpu]=$(cut -d' ' -f2 "$SC_STATE/idle" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f\n", v[int((NR + 1) / 2)] }')
FIG[cpu_max]=$(cut -d' ' -f2 "$SC_STATE/idle" | sort -g | tail -1)
FIG[msgs_idle]=$(awk -v a="$m0" -v b="$m1" -v n="$SC_N" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 'BEGIN { printf "%.2f\n", (b - a) / n / s }')
sc_log "idle: RSS median ${FIG[rss]} MB (max ${FIG[rss_max]}), CPU median ${FIG[cpu]} % (max ${FIG[cpu_max]}), ${FIG[msgs_idle]} messages/node/s"

# --- spread -------------------------------------------------------------------------------------

sc_log "spread: $SC_SPREAD_APPS single-instance apps"
spread_apps=()
for k in $(seq 1 "$SC_SPREAD_APPS"); do
    register "spread$k" 1 "$(nth_live "$k")"
    spread_apps+=("spread$k")
    sleep 0.5
done
wait_at_n 120 "${spread_apps[@]}" || sc_log "spread apps not all running after 120 s"
times_to_n "${spread_apps[@]}" >"$SC_STATE/t_spread"
FIG[spread_hosts]=$(docker ps --filter "label=io.fluxnode.scale=$SC_RUN" --format '{{.Label "io.fluxnode.app"}} {{.Label "io.fluxnode.node"}}' |
    awk '$1 ~ /^spread/ { print $2 }' | sort -u | wc -l)
FIG[spread_t]=$(numbers "$SC_STATE/t_spread" | sc_median)
sc_log "spread: $SC_SPREAD_APPS apps on ${FIG[spread_hosts]} distinct nodes; registration → 1 running median ${FIG[spread_t]} s"

# --- register -----------------------------------------------------------------------------------

k=0
reg_apps=()
: >"$SC_STATE/t_reg"
m_reg0=$(metric_sum fluxnode_messages_received_total)
t_reg0=$(sc_now)
for r in $(seq 1 "$SC_ROUNDS"); do
    round=()
    for a in $(seq 1 "$SC_APPS"); do
        k=$((k + 1))
        register "reg${r}x$a" 3 "$(nth_live "$k")"
        round+=("reg${r}x$a")
        sleep 1
    done
    wait_at_n 120 "${round[@]}" || sc_log "round $r: not every app at 3 after 120 s"
    times_to_n "${round[@]}" | tee -a "$SC_STATE/t_reg" >"$SC_STATE/t_reg$r"
    reg_apps+=("${round[@]}")
    sc_log "register round $r: registration → 3 running median $(numbers "$SC_STATE/t_reg$r" | sc_median) s, max $(numbers "$SC_STATE/t_reg$r" | sc_max) s, never $(grep -c never "$SC_STATE/t_reg$r" || true)"
done
FIG[msgs_reg]=$(awk -v a="$m_reg0" -v b="$(metric_sum fluxnode_messages_received_total)" -v n="$SC_N" \
    -v s="$(awk -v a="$t_reg0" -v b="$(sc_now)" 'BEGIN { print b - a }')" 'BEGIN { printf "%.2f\n", (b - a) / n / s }')
FIG[reg]=$(numbers "$SC_STATE/t_reg" | sc_median)
FIG[reg_max]=$(numbers "$SC_STATE/t_reg" | sc_max)
FIG[reg_never]=$(grep -c never "$SC_STATE/t_reg" || true)

# --- kill ---------------------------------------------------------------------------------------

: >"$SC_STATE/t_kill"
: >"$SC_STATE/t_kill_all"
all_apps=("${spread_apps[@]}" "${reg_apps[@]}")
for r in $(seq 1 "$SC_ROUNDS"); do
    victim=reg${r}x1
    hosts=$(docker ps --filter "label=io.fluxnode.scale=$SC_RUN" --filter "label=io.fluxnode.app=$victim" \
        --format '{{.Label "io.fluxnode.node"}}' | sort -u)
    nodes=()
    for h in $hosts; do nodes+=("$(sc_index_of "$h")"); done
    [ "${#nodes[@]}" = 3 ] || { sc_log "kill round $r: $victim runs on ${#nodes[@]} nodes, not 3; skipped"; continue; }
    sc_log "kill round $r: SIGKILL nodes ${nodes[*]} (every host of $victim) and remove their containers"
    t_kill=$(sc_now)
    for i in "${nodes[@]}"; do sc_kill9 "$i"; done
    # Their containers went down with the machines: the monitor stops counting them at
    # once, and they are removed in the background (on a loaded engine `docker rm` of a
    # dozen containers took minutes, and counting them meanwhile showed apps above N).
    for h in $hosts; do echo "$h" >>"$SC_STATE/dead_ids"; done
    # Their disks went with them too: their app volumes and the loop devices under them.
    # Left behind, a replacement at the same address (the same container-name suffix)
    # found its predecessor's volume under an app's name and failed every start of it.
    dirs=()
    for i in "${nodes[@]}"; do dirs+=("$(cat "$SC_STATE/n$i.dir")"); done
    for j in "${!nodes[@]}"; do
        h=$(sc_id "${nodes[$j]}")
        dir=${dirs[$j]}
        (
            ids=$(docker ps -aq --filter "label=io.fluxnode.node=$h")
            [ -z "$ids" ] || docker rm -f -v $ids >/dev/null 2>&1 || true
            ids=$(docker network ls -q --filter "label=io.fluxnode.node=$h")
            [ -z "$ids" ] || docker network rm $ids >/dev/null 2>&1 || true
            ids=$(docker volume ls -q --filter "label=io.fluxnode.node=$h")
            [ -z "$ids" ] || docker volume rm -f $ids >/dev/null 2>&1 || true
            losetup -n -l -O NAME,BACK-FILE | awk -v d="$dir/" 'index($2, d) == 1 { print $1 }' |
                xargs -r losetup -d 2>/dev/null || true
        ) 9>&- &
        SC_REMOVALS+=($!)
    done
    # Samples taken from now on see the containers gone; the latest one may predate that.
    t_gone=$(sc_now)
    sleep 1.5
    wait_at_n 180 "${all_apps[@]}" || sc_log "kill round $r: not every app back at its count after 180 s"
    awk -v a="$t_kill" -v b="$(sc_now)" 'BEGIN { printf "%.2f\n", b - a }' >>"$SC_STATE/t_kill_all"
    back=$(sc_first_at "$victim" 3 "$t_gone")
    if [ -n "$back" ]; then
        awk -v a="$t_kill" -v b="$back" 'BEGIN { printf "%.2f\n", b - a }' >>"$SC_STATE/t_kill"
    else echo never >>"$SC_STATE/t_kill"; fi
    sc_log "kill round $r: $victim back at 3 after $(tail -1 "$SC_STATE/t_kill") s, every app at its count after $(tail -1 "$SC_STATE/t_kill_all") s"
    # Replacement machines: same addresses, new keys.
    for i in "${nodes[@]}"; do sc_start "$i" fresh; done
    sc_wait_mesh 180 >/dev/null || sc_log "kill round $r: replacements not meshed after 180 s"
done
FIG[kill]=$(numbers "$SC_STATE/t_kill" | sc_median)
FIG[kill_max]=$(numbers "$SC_STATE/t_kill" | sc_max)
FIG[kill_never]=$(grep -c never "$SC_STATE/t_kill" || true)
FIG[kill_all]=$(sc_median <"$SC_STATE/t_kill_all")

# --- failing ------------------------------------------------------------------------------------

# The failing phase starts from an empty network, as the simulator's run does: with the
# earlier phases' apps left in place, the emptiest nodes (the kill rounds' fresh
# replacements) took every placement, so failing nodes chosen among the full ones failed
# nothing (0 failed starts against the simulator's 7), and chosen among the empty ones
# failed every app (20 against 6).
sc_log "failing: cancelling the ${#all_apps[@]} apps of the earlier phases"
for a in "${all_apps[@]}"; do
    "$SC_BIN" app cancel "$a" --key "$SC_STATE/owner.key" --api "$(sc_api "$(nth_live 1)")" >/dev/null 2>&1 ||
        sc_log "failing: cancelling $a failed"
done
for _ in $(seq 1 600); do
    [ -z "$(docker ps -q --filter "label=io.fluxnode.scale=$SC_RUN")" ] && break
    sleep 0.5
done
[ -z "$(docker ps -q --filter "label=io.fluxnode.scale=$SC_RUN")" ] || sc_log "failing: containers still running 300 s after the cancels"
# The failing nodes, restarted (SIGTERM; they keep their key) with an app subnet pool that
# is Docker's own bridge subnet: they are ready, bid and win, and the engine refuses every
# app network they create, so every start fails — the simulator's `--failing-nodes`.
failing=()
for i in $(seq $((SC_N - SC_FAILING + 1)) "$SC_N"); do failing+=("$i"); done
bridge=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Subnet}}')
sc_log "failing: restarting nodes ${failing[*]} with Docker's bridge subnet $bridge as their app pool"
for i in "${failing[@]}"; do
    sc_stop "$i"
    sc_start "$i" same --docker-app-subnet-pool "$bridge" --docker-app-subnet-prefix "${bridge#*/}"
    kill -0 "$(cat "$SC_STATE/n$i.pid")" 2>/dev/null ||
        sc_die "failing node $i did not start again: $(tail -3 "$(cat "$SC_STATE/n$i.dir")/daemon.log")"
done
sc_wait_mesh 180 >/dev/null || sc_log "failing nodes not meshed after 180 s"
fail_before=0
for i in "${failing[@]}"; do
    fail_before=$((fail_before + $(grep -c 'app failed to start' "$(cat "$SC_STATE/n$i.dir")/daemon.log" || true)))
done
fail_apps=()
for a in $(seq 1 "$SC_APPS"); do
    k=$((k + 1))
    register "fail${a}" 3 "$(nth_live "$k")"
    fail_apps+=("fail$a")
    sleep 1
done
wait_at_n 180 "${fail_apps[@]}" || sc_log "failing: not every app at 3 after 180 s"
times_to_n "${fail_apps[@]}" >"$SC_STATE/t_fail"
fail_after=0
for i in "${failing[@]}"; do
    fail_after=$((fail_after + $(grep -c 'app failed to start' "$(cat "$SC_STATE/n$i.dir")/daemon.log" || true)))
done
FIG[fail]=$(numbers "$SC_STATE/t_fail" | sc_median)
FIG[fail_max]=$(numbers "$SC_STATE/t_fail" | sc_max)
FIG[fail_never]=$(grep -c never "$SC_STATE/t_fail" || true)
FIG[fail_starts]=$((fail_after - fail_before))
sc_log "failing: registration → 3 running median ${FIG[fail]} s, max ${FIG[fail_max]} s; failed starts ${FIG[fail_starts]}"

# --- above N ------------------------------------------------------------------------------------

above=0
while read -r a m; do
    w=$(awk -v a="$a" '$1 == a { print $2 }' "$SC_STATE/registered")
    [ -n "$w" ] && [ "$m" -gt "$w" ] && { sc_log "ABOVE N: $a ran $m instances (wants $w)"; above=$((above + 1)); }
done < <(sc_max_counts)
FIG[above]=$above
sc_monitor_stop

# --- the simulator, same shape ------------------------------------------------------------------

# Container starts: the median of what the daemons logged for their own starts of a
# phase's apps ("app running app=… ms=", assignment → running, under the engine's load of
# that phase); the simulator draws its starts from 0.5–1.5 × that. Registration → 1
# running less a round was used before; since a bid answered within 300 ms prepares
# nothing, a round here is ~0.1 s and the daemons' own figure is the start itself. Per
# phase, because one engine serves every node here and a start grows with what it already
# runs (median 1.3 s over the register rounds, 2.4–3 s in the failing phase of one run).
start_ms() {
    local v
    v=$(cat "$SC_STATE"/n*/daemon.log 2>/dev/null | grep -a 'effects: app running' |
        sed -n "s/.* app=$1[0-9x]* ms=\([0-9]*\).*/\1/p" | sc_median | awk '{ printf "%d\n", $1 }')
    [[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -ge 100 ] || v=1000
    echo "$v"
}
draw() { echo "$(($1 / 2))-$(($1 * 3 / 2))"; }
FIG[start_spread]=$(start_ms spread)
FIG[start_reg]=$(start_ms reg)
FIG[start_fail]=$(start_ms fail)
sim() { "$SC_BIN" sim --shape testbed --nodes "$SC_N" --latency 1 --loss 0 --start-failure 0 --json "$@"; }
sc_log "simulator: same shapes"
SIM_SPREAD=$(sim --start-ms "$(draw "${FIG[start_spread]}")" --apps "$SC_SPREAD_APPS" --instances 1 --register-window $((SC_SPREAD_APPS / 2)) --duration 300)
SIM_REG=$(sim --start-ms "$(draw "${FIG[start_reg]}")" --apps "$SC_APPS" --instances 3 --register-window "$SC_APPS" --duration 300)
SIM_KILL=$(sim --start-ms "$(draw "${FIG[start_reg]}")" --apps "$SC_APPS" --instances 3 --register-window "$SC_APPS" --duration 400 --kill-group "1@120" --seed 2)
SIM_FAIL=$(sim --start-ms "$(draw "${FIG[start_fail]}")" --apps "$SC_APPS" --instances 3 --register-window "$SC_APPS" --duration 400 --failing-nodes "$SC_FAILING")
js() { jq -r "$2" <<<"$1"; }

# --- report -------------------------------------------------------------------------------------

printf '\nscripts/scale.sh %s (rounds %s, %s apps per round, %s failing nodes); simulator: fluxnode sim --shape testbed\n' \
    "$SC_N" "$SC_ROUNDS" "$SC_APPS" "$SC_FAILING"
printf '%-44s %-22s %s\n' "figure" "real (median / max)" "simulator (p50 / max)"
printf '%-44s %-22s %s\n' "app start (daemons' median: spread/reg/fail), ms" "${FIG[start_spread]} / ${FIG[start_reg]} / ${FIG[start_fail]}" "0.5–1.5 × each (drawn)"
printf '%-44s %-22s %s\n' "time to full mesh, s" "${FIG[mesh]}" "-"
printf '%-44s %-22s %s\n' "idle RSS per daemon, MB" "${FIG[rss]} / ${FIG[rss_max]}" "-"
printf '%-44s %-22s %s\n' "idle CPU per daemon, % of a core" "${FIG[cpu]} / ${FIG[cpu_max]}" "-"
printf '%-44s %-22s %s\n' "messages received per node per s" "idle ${FIG[msgs_idle]}, registering ${FIG[msgs_reg]}" "$(js "$SIM_REG" '.traffic.messages_per_node_per_s | . * 100 | round / 100') (whole run)"
printf '%-44s %-22s %s\n' "spread: distinct hosts of $SC_SPREAD_APPS 1-instance apps" "${FIG[spread_hosts]}" "$(js "$SIM_SPREAD" '.final_state.distinct_hosts')"
printf '%-44s %-22s %s\n' "registration → 1 running, s" "${FIG[spread_t]}" "$(js "$SIM_SPREAD" '"\(.time_to_n_s.p50) / \(.time_to_n_s.max)"')"
printf '%-44s %-22s %s\n' "registration → 3 running, s" "${FIG[reg]} / ${FIG[reg_max]} (never ${FIG[reg_never]})" "$(js "$SIM_REG" '"\(.time_to_n_s.p50) / \(.time_to_n_s.max)"')"
printf '%-44s %-22s %s\n' "kill 3 hosts of an app → back at 3, s" "${FIG[kill]} / ${FIG[kill_max]} (never ${FIG[kill_never]})" "$(js "$SIM_KILL" '.faults.group_lost_s | "\(.p50) / \(.max)"')"
printf '%-44s %-22s %s\n' "kill → every app at its count, s" "${FIG[kill_all]}" "$(js "$SIM_KILL" '.kill.time_to_replace_s.max')"
printf '%-44s %-22s %s\n' "$SC_FAILING failing nodes: registration → 3, s" "${FIG[fail]} / ${FIG[fail_max]} (never ${FIG[fail_never]})" "$(js "$SIM_FAIL" '"\(.time_to_n_s.p50) / \(.time_to_n_s.max)"')"
printf '%-44s %-22s %s\n' "failed starts on the failing nodes" "${FIG[fail_starts]}" "$(js "$SIM_FAIL" '.faults.failed_starts')"
printf '%-44s %-22s %s\n' "apps ever above their instance count" "${FIG[above]}" "$(js "$SIM_REG" '.final_state.apps_above_n')"
[ "${FIG[above]}" = 0 ] || exit 1
