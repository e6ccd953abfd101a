#!/usr/bin/env bash
# fluxnode under a real systemd as PID 1: a Debian bookworm root file system (mmdebstrap,
# minbase + systemd, systemd-sysv, dbus) imported into Docker and booted in a container,
# with this host's Docker socket mounted in; fluxnode is installed with scripts/install.sh
# (the static binary of scripts/build-static.sh) and run by scripts/fluxnode.service as
# installed. Checks, in order:
#   1. `systemctl start fluxnode` returns only after READY=1 (the benchmark and the store
#      are done when it returns, the unit is active and the API answers);
#   2. `systemctl status fluxnode` reports it active;
#   3. the hardening options leave the daemon able to work: it places an app (single-node
#      mode) whose container answers on its port;
#   4. a SIGSTOPped daemon is killed by the watchdog and restarted within WatchdogSec +
#      RestartSec + a margin, and adopts the app's containers;
#   5. `systemctl stop fluxnode` exits 0 and leaves the app's containers running;
#   6. `journalctl -u fluxnode` holds the daemon's log lines of both runs.
# Prints the figures (time to active, watchdog restart time). Removes its container, image,
# app containers, networks and volumes even when a check fails.
#
# Environment: FLUXNODE_STATIC_BIN (a static fluxnode; else scripts/build-static.sh),
# FLUXNODE_SYSTEMD_ROOTFS (the root file system tarball; default
# /var/cache/fluxnode-test/debian-bookworm-systemd.tar, built with mmdebstrap when absent).
# Needs root, Docker, mmdebstrap, curl and the local registry on 127.0.0.1:5000 with the
# test busybox image (scripts/test.sh provides them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[systemd-boot] %s\n' "$*" >&2; }
die() { printf '[systemd-boot] FAIL: %s\n' "$*" >&2; exit 1; }

rootfs=${FLUXNODE_SYSTEMD_ROOTFS:-/var/cache/fluxnode-test/debian-bookworm-systemd.tar}
run="sd$$"
name="fluxnode-systemd-$run"
image="fluxnode-test/systemd-bookworm:$run"
# A loopback address and ports of their own (the test clusters' base range 160..179).
ip=127.0.0.170
api="http://$ip:16127"
p2p=21700
app="sdboot$$"
app_port=39170
# The unit's WatchdogSec (30 s) and RestartSec (5 s) are read from systemd below; the
# margin covers the kill (SIGABRT, then SIGKILL), the restart with a cached benchmark and
# the polling interval.
restart_margin=25
tmp=$(mktemp -d)

cleanup() {
    local status=$?
    if [ "$status" != 0 ] && docker inspect "$name" >/dev/null 2>&1; then
        log "journal of fluxnode (last 40 lines):"
        docker exec "$name" journalctl -u fluxnode --no-pager -n 40 >&2 2>/dev/null || true
    fi
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker ps -aq --filter "label=io.fluxnode.testrun=$run" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter "label=io.fluxnode.testrun=$run" | xargs -r docker network rm >/dev/null 2>&1 || true
    docker volume ls -q --filter "label=io.fluxnode.testrun=$run" | xargs -r docker volume rm >/dev/null 2>&1 || true
    docker image rm -f "$image" >/dev/null 2>&1 || true
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT

in_box() { docker exec "$name" "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

bin=${FLUXNODE_STATIC_BIN:-}
[ -n "$bin" ] || bin=$(scripts/build-static.sh)
[ -x "$bin" ] || die "no static fluxnode at $bin"

if [ ! -f "$rootfs" ] || [ ! -s "$rootfs" ]; then
    command -v mmdebstrap >/dev/null || die "mmdebstrap is required (apt-get install mmdebstrap)"
    log "building the Debian root file system (mmdebstrap, once; cached at $rootfs)"
    mkdir -p "$(dirname "$rootfs")"
    # mmdebstrap picks its output format from the target's name; a ".tmp" name would make
    # it write a directory, which `docker import` cannot read. Name the format; clear what
    # an interrupted run may have left (a directory or a partial tarball).
    rm -rf "$rootfs" "$rootfs.tmp"
    mmdebstrap --quiet --format=tar --variant=minbase --include=systemd,systemd-sysv,dbus \
        bookworm "$rootfs.tmp"
    mv -f "$rootfs.tmp" "$rootfs"
fi
docker import "$rootfs" "$image" >/dev/null
log "booting systemd in container $name"
docker run -d --name "$name" --label io.fluxnode.test=1 --label "io.fluxnode.testrun=$run" \
    --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=private \
    --tmpfs /run --tmpfs /run/lock -e container=docker --network host \
    -v /var/run/docker.sock:/var/run/docker.sock \
    "$image" /lib/systemd/systemd >/dev/null
# Until systemd's bus is up, systemctl cannot connect; then --wait waits for the boot.
state=""
for _ in $(seq 1 120); do
    state=$(timeout 60 docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
    case "$state" in running | degraded) break ;; esac
    sleep 0.5
done
[ "$state" = running ] || {
    in_box systemctl --failed --no-pager >&2 || true
    die "systemd in the container is '$state', not running"
}
log "systemd is running as PID 1"

# The unit requires docker.service; here the engine is the host's, reached through the
# mounted socket, so a stand-in unit checks that socket instead of starting a dockerd.
cat >"$tmp/docker.service" <<'UNIT'
[Unit]
Description=Docker Engine of the host (its socket is mounted into this test container)
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/test -S /var/run/docker.sock
UNIT
docker cp "$tmp/docker.service" "$name:/etc/systemd/system/docker.service"
# The docker group inside must have the socket's gid, as Docker's package does on a host.
in_box groupadd -o -g "$(stat -c %g /var/run/docker.sock)" docker

in_box mkdir -p /opt/fluxnode
docker cp scripts/install.sh "$name:/opt/fluxnode/install.sh"
docker cp scripts/fluxnode.service "$name:/opt/fluxnode/fluxnode.service"
docker cp scripts/fluxnode.example.toml "$name:/opt/fluxnode/fluxnode.example.toml"
docker cp "$bin" "$name:/opt/fluxnode/fluxnode"
in_box /opt/fluxnode/install.sh >&2
# The operator's edit after installing: a single-node setup on this test's address.
cat >"$tmp/fluxnode.toml" <<TOML
[node]
geo = "EU_DE_HE"
advertise_addr = "$ip"
tier_profile = "testnet"
[network]
listen = ["/ip4/$ip/tcp/$p2p"]
single_node = true
mdns = false
[api]
listen = "$ip:16127"
[docker]
labels = ["io.fluxnode.test=1", "io.fluxnode.testrun=$run"]
name_suffix = "_$run"
# The test image comes from the local registry on loopback, refused unless listed.
loopback_registries = ["127.0.0.1:5000"]
# This container has no loop devices (Docker gives it no /dev/loop-control); fixed-size
# volumes are checked on the host by node/tests/daemon_volumes.rs.
volumes = "unbounded"
[bench]
quick = true
TOML
docker cp "$tmp/fluxnode.toml" "$name:/etc/fluxnode/fluxnode.toml"
in_box chown root:fluxnode /etc/fluxnode/fluxnode.toml

# 1. start returns after READY=1.
t0=$(now)
in_box systemctl start fluxnode || die "systemctl start fluxnode failed"
to_active=$(since "$t0")
[ "$(in_box systemctl show -p ActiveState --value fluxnode)" = active ] || die "not active when start returned"
in_box journalctl -u fluxnode --no-pager | grep -q "benchmark stored" ||
    die "start returned before the benchmark was done (no 'benchmark stored' in the journal)"
curl -fsS -m 5 "$api/healthz" >/dev/null || die "the API does not answer right after start returned"
log "systemctl start returned after READY=1 in $to_active s"

# 2. status.
in_box systemctl status fluxnode --no-pager >"$tmp/status" || die "systemctl status: not active"
grep -q "Active: active (running)" "$tmp/status" || die "status does not say active (running)"

# 3. The hardened daemon does its job: an app is placed and answers.
"$bin" key generate --out "$tmp/owner.key" >/dev/null 2>&1
cat >"$tmp/app.json" <<SPEC
{"version": 8, "name": "$app", "description": "fluxnode systemd boot test", "owner": "0x0c894752ba986f3f6f081eeb05c1c4a482fe8717",
 "compose": [{"name": "web", "description": "busybox httpd",
   "repotag": "127.0.0.1:5000/fluxnode-test/busybox:latest", "ports": [$app_port],
   "containerPorts": [8080], "domains": [""], "environmentParameters": [],
   "commands": ["httpd", "-f", "-p", "8080", "-h", "/"], "containerData": "/data",
   "cpu": 0.1, "ram": 100, "hdd": 1, "repoauth": ""}],
 "instances": 1, "contacts": [], "geolocation": [], "expire": 5000, "nodes": [],
 "staticip": false, "enterprise": ""}
SPEC
"$bin" app register "$tmp/app.json" --key "$tmp/owner.key" --api "$api" >&2
t=$(now)
until curl -sS -m 2 -o /dev/null "http://$ip:$app_port/" 2>/dev/null; do
    [ "$(since "$t" | cut -d. -f1)" -lt 60 ] || die "the app did not answer on $ip:$app_port within 60 s"
    sleep 0.5
done
cid=$(docker ps -q --filter "label=io.fluxnode.testrun=$run" --filter "label=io.fluxnode.app=$app")
[ -n "$cid" ] || die "no container of $app"
log "app placed by the hardened daemon in $(since "$t") s; it answers on $ip:$app_port"

# 4. The watchdog: a stopped daemon stops petting it.
watchdog=$(in_box systemctl show -p WatchdogUSec --value fluxnode)
restart_sec=$(in_box systemctl show -p RestartUSec --value fluxnode)
secs() { awk '{ s = 0; if ($0 ~ /min/) { split($0, a, "min"); s = a[1] * 60; $0 = a[2] } s += $0 + 0; print int(s) }' <<<"$1"; }
limit=$(($(secs "$watchdog") + $(secs "$restart_sec") + restart_margin))
pid=$(in_box systemctl show -p MainPID --value fluxnode)
in_box sh -c "kill -STOP $pid"
t=$(now)
while :; do
    new=$(in_box systemctl show -p MainPID --value fluxnode)
    if [ "$new" != 0 ] && [ "$new" != "$pid" ] &&
        [ "$(in_box systemctl show -p ActiveState --value fluxnode)" = active ]; then
        break
    fi
    [ "$(since "$t" | cut -d. -f1)" -lt "$limit" ] ||
        die "not restarted within $limit s (WatchdogSec $watchdog + RestartSec $restart_sec + $restart_margin s)"
    sleep 0.5
done
restart_time=$(since "$t")
# journald writes asynchronously: the restart can be visible before its log line is.
by_watchdog=0
for _ in $(seq 1 20); do
    if in_box journalctl -u fluxnode --no-pager | grep -q "Watchdog timeout"; then
        by_watchdog=1
        break
    fi
    sleep 0.5
done
[ "$by_watchdog" = 1 ] || die "restarted, but not by the watchdog (no \"Watchdog timeout\" in the journal within 10 s)"
log "SIGSTOPped daemon killed by the watchdog and active again after $restart_time s (limit $limit s)"
[ "$(docker inspect -f '{{.Id}}' "$cid" | cut -c1-12)" = "$cid" ] || die "the app's container was replaced"
t=$(now)
until in_box journalctl -u fluxnode --no-pager | grep -q "adopted running app"; do
    [ "$(since "$t" | cut -d. -f1)" -lt 20 ] || die "the restarted daemon did not adopt $app"
    sleep 0.5
done

# 5. stop: exit 0, app containers stay.
in_box systemctl stop fluxnode || die "systemctl stop exited non-zero"
[ "$(in_box systemctl show -p Result --value fluxnode)" = success ] || die "the unit did not stop cleanly"
[ "$(docker inspect -f '{{.State.Running}}' "$cid")" = true ] || die "stop took the app's container down"
curl -sS -m 2 -o /dev/null "http://$ip:$app_port/" || die "the app stopped answering after systemctl stop"
log "systemctl stop: exit 0, the app's container still runs and answers"

# 6. The journal has both runs.
starts=$(in_box journalctl -u fluxnode --no-pager | grep -c "node identity" || true)
[ "$starts" -ge 2 ] || die "journalctl -u fluxnode shows $starts start(s) of the daemon, expected 2"
log "journalctl -u fluxnode: $(in_box journalctl -u fluxnode --no-pager | wc -l) lines, $starts daemon starts"

echo "systemd: time to active $to_active s; watchdog restart $restart_time s (WatchdogSec $watchdog, RestartSec $restart_sec)"
