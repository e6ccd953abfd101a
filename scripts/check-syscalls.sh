#!/usr/bin/env bash
# Checks that the daemon stays inside the unit's SystemCallFilter: runs one single-node
# daemon under strace through a whole app lifecycle (start, benchmark, API, image pull,
# app start, cancel and removal, SIGTERM shutdown), then compares the system calls it made
# with the set scripts/fluxnode.service allows (its SystemCallFilter= lines expanded by
# `systemd-analyze syscall-filter`). A call outside the set would be refused with EPERM
# under systemd (SystemCallErrorNumber=EPERM).
#
#   scripts/check-syscalls.sh [--bin FILE]     (default: the static build)
#
# Needs root, Docker, strace (installed when missing) and the local registry (started when
# absent, stopped again if this script started it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=""
case "${1:-}" in
    --bin) bin=$2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
[ -n "$bin" ] || bin=${FLUXNODE_STATIC_BIN:-$(scripts/build-static.sh)}
command -v strace >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null
}
# shellcheck source=scripts/lib/registry.sh
source scripts/lib/registry.sh

say() { printf '[syscalls] %s\n' "$*"; }
work=$(mktemp -d)
ip=127.0.30.1
api=http://$ip:16127
tracer=""
registry_ours=0
cleanup() {
    local status=$?
    if [ -n "$tracer" ] && kill -0 "$tracer" 2>/dev/null; then
        pgrep -P "$tracer" | xargs -r kill -TERM 2>/dev/null || true
        sleep 2
        kill "$tracer" 2>/dev/null || true
    fi
    docker ps -aq --filter label=io.fluxnode.syscall-check=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter label=io.fluxnode.syscall-check=1 | xargs -r docker network rm >/dev/null 2>&1 || true
    docker volume ls -q --filter label=io.fluxnode.syscall-check=1 | xargs -r docker volume rm >/dev/null 2>&1 || true
    [ "$registry_ours" = 1 ] && FLUXNODE_REGISTRY_DIR=$work/registry registry_down
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT

if ! curl -fsS "http://$FLUXNODE_TEST_REGISTRY/v2/" >/dev/null 2>&1; then
    FLUXNODE_REGISTRY_DIR=$work/registry registry_up
    registry_ours=1
fi
registry_push_busybox

say "daemon under strace on $ip"
"$bin" key generate --out "$work/owner.key" >/dev/null 2>&1
strace -f -qq -o "$work/trace" "$bin" run --config /dev/null --data-dir "$work/data" \
    --geo EU_DE_HE --advertise-addr "$ip" --listen "/ip4/$ip/tcp/17100" --api-listen "$ip:16127" \
    --single-node true --bench-quick true --tier-profile testnet \
    --docker-label io.fluxnode.test=1,io.fluxnode.syscall-check=1 --docker-name-suffix=-syscheck \
    --docker-loopback-registry 127.0.0.1:5000 \
    >"$work/daemon.log" 2>&1 &
tracer=$!
for _ in $(seq 1 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$api/readyz")" = 200 ] && break
    sleep 0.5
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/readyz")" = 200 ] || { tail -20 "$work/daemon.log"; exit 1; }

jq '.name = "syscheck" | .instances = 1 | (.compose[].ports) |= map(. + 700)
    | (.compose[].environmentParameters) |= map(sub("fluxweb_demo"; "fluxweb_syscheck"))' \
    testnet/demo-app.json >"$work/app.json"
"$bin" app register "$work/app.json" --key "$work/owner.key" --api "$api" >/dev/null
running=0
for _ in $(seq 1 60); do
    running=$(docker ps -q --filter label=io.fluxnode.app=syscheck --filter status=running | wc -l)
    [ "$running" = 2 ] && break
    sleep 0.5
done
[ "$running" = 2 ] || { tail -20 "$work/daemon.log"; say "app did not start"; exit 1; }
curl -fsS "$api/metrics" >/dev/null
"$bin" app cancel syscheck --key "$work/owner.key" --api "$api" >/dev/null
for _ in $(seq 1 60); do
    [ -z "$(docker ps -aq --filter label=io.fluxnode.app=syscheck)" ] && break
    sleep 0.5
done
grep -q "app running" "$work/daemon.log" && grep -q "app removed" "$work/daemon.log" || { tail -20 "$work/daemon.log"; say "no app start and removal in the daemon log"; exit 1; }
say "app started and removed ($(grep -c . "$work/daemon.log") log lines); stopping the daemon (SIGTERM)"
pgrep -P "$tracer" | xargs -r kill -TERM
wait "$tracer" || true
tracer=""

# System calls made after the daemon's own execve (strace's exec of it is not the daemon's).
sed -n 's/^[0-9]\+ \+\([a-z_0-9]\+\)(.*/\1/p' "$work/trace" | grep -vx execve | sort -u >"$work/used"

expand() { # expand @group|name -> names, recursively
    systemd-analyze syscall-filter "$1" 2>/dev/null | sed -n '2,$p' | sed 's/#.*//' | tr -d ' ' |
        grep -v '^$' | while read -r x; do
            case "$x" in @*) expand "$x" ;; *) echo "$x" ;; esac
        done
}
: >"$work/allow"
: >"$work/deny"
while IFS= read -r line; do
    value=${line#SystemCallFilter=}
    target=allow
    if [ "${value:0:1}" = "~" ]; then target=deny; value=${value:1}; fi
    for item in $value; do
        case "$item" in @*) expand "$item" ;; *) echo "$item" ;; esac >>"$work/$target"
    done
done < <(grep '^SystemCallFilter=' "$root/scripts/fluxnode.service")
sort -u -o "$work/allow" "$work/allow"
sort -u -o "$work/deny" "$work/deny"
comm -23 "$work/allow" "$work/deny" >"$work/effective"
outside=$(comm -23 "$work/used" "$work/effective")
say "$(wc -l <"$work/used") distinct system calls made; the unit allows $(wc -l <"$work/effective")"
if [ -n "$outside" ]; then
    say "FAIL: made but not allowed by the unit: $(echo "$outside" | tr '\n' ' ')"
    exit 1
fi
say "ok: every system call is inside the unit's SystemCallFilter"
