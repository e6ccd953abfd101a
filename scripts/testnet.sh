#!/usr/bin/env bash
# Local fluxnode testnet: N nodes as containers on this host's Docker engine, each on its own
# loopback address, plus a local image registry, Prometheus and an ingress (`fluxnode
# ingress` with Debian's HAProxy on the host: apps by Host header on 127.0.0.1:8080, e.g.
# `curl -H 'Host: demo.app.localtest' http://127.0.0.1:8080/`).
#
#   scripts/testnet.sh up [N] [--grafana]  build (when stale), start N nodes (default 5), wait
#                                          until each is ready and sees N-1 peers; puts
#                                          `fluxnode` on the PATH (/usr/local/bin, client
#                                          commands default to node 1's API)
#   scripts/testnet.sh down                remove everything `up` created (nodes, volumes, app
#                                          containers/networks/volumes, iptables rules, keys)
#   scripts/testnet.sh status              nodes, peers, hosted apps, the testnet's app
#                                          containers, partition rules, the ingress
#   scripts/testnet.sh servers [APP]       HAProxy's live server list (backend, server,
#                                          address, UP/DOWN/MAINT) from its stats
#   scripts/testnet.sh register SPEC       sign SPEC with the testnet owner key, register it
#                                          through node 1
#   scripts/testnet.sh update SPEC         the owner updates the app SPEC names to SPEC
#                                          (a rolling update), through node 1
#   scripts/testnet.sh kill NODE [--daemon-only]
#                                          SIGKILL node NODE (a host failure: its app
#                                          containers are killed too, unless --daemon-only)
#   scripts/testnet.sh restart NODE        restart node NODE's daemon (SIGTERM, then start;
#                                          starts it when killed)
#   scripts/testnet.sh partition GROUP...  e.g. `partition 1,2`: {1,2} | {others}; packets
#                                          between groups are dropped (iptables, loopback)
#   scripts/testnet.sh heal                remove the partition rules
#   scripts/testnet.sh logs NODE [-f]      daemon log of node NODE
#   scripts/testnet.sh compose [N]         print the compose file for N nodes
#
# Environment: FLUXNODE_TESTNET_DIR (state, default /tmp/fluxnode-testnet),
# FLUXNODE_TESTNET_BLOCK_TIME (default 1s), FLUXNODE_TESTNET_LOG (default info),
# FLUXNODE_TESTNET_READY_TIMEOUT (seconds, default 180), FLUXNODE_STATIC_BIN (use this
# static binary instead of building one), FLUXNODE_TESTNET_CLIENT (where `up` puts the
# client wrapper, default /usr/local/bin/fluxnode). Needs root (iptables, Docker).
set -euo pipefail
# shellcheck source=scripts/lib/testnet.sh
source "$(dirname "$0")/lib/testnet.sh"
# shellcheck source=scripts/lib/registry.sh
source "$TN_ROOT/scripts/lib/registry.sh"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

need_node() {
    local n
    n=$(tn_count)
    [ "$n" -gt 0 ] || tn_die "no testnet is up (scripts/testnet.sh up)"
    [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$n" ] || tn_die "NODE must be 1..$n"
}

install_deps() {
    local need=()
    command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
    command -v jq >/dev/null 2>&1 || need+=(jq)
    command -v curl >/dev/null 2>&1 || need+=(curl)
    command -v iptables >/dev/null 2>&1 || need+=(iptables)
    command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
    command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
    # scripts/steady-client.py (the e2e ingress scenario's client) needs only the stdlib.
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    if [ ${#need[@]} -gt 0 ]; then
        tn_log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

# The node image: FROM scratch, the static binary, an empty data directory writable by the
# testnet group, /tmp. Rebuilt only when the binary changed (its digest is an image label).
build_image() {
    local bin=$1 sum ctx
    sum=$(sha256sum "$bin" | cut -c1-64)
    if [ "$(docker image inspect -f '{{index .Config.Labels "io.fluxnode.binary-sha256"}}' "$TN_IMAGE" 2>/dev/null)" = "$sum" ]; then
        tn_log "image $TN_IMAGE is current"
        return 0
    fi
    ctx=$(mktemp -d)
    mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/var/lib/fluxnode" "$ctx/rootfs/etc/fluxnode" "$ctx/rootfs/tmp"
    cp "$bin" "$ctx/rootfs/usr/local/bin/fluxnode"
    chmod 0770 "$ctx/rootfs/var/lib/fluxnode"
    chmod 1777 "$ctx/rootfs/tmp"
    cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY --chown=0:$TN_GID rootfs/ /
LABEL io.fluxnode.test="1" io.fluxnode.binary-sha256="$sum"
ENV FLUXNODE_DATA_DIR=/var/lib/fluxnode
USER $TN_UID_BASE:$TN_GID
ENTRYPOINT ["/usr/local/bin/fluxnode"]
CMD ["run"]
DOCKERFILE
    if ! docker build -q -t "$TN_IMAGE" "$ctx" >"$ctx/build.log" 2>&1; then
        cat "$ctx/build.log" >&2
        rm -rf "$ctx"
        tn_die "image build failed"
    fi
    rm -rf "$ctx"
    tn_log "built image $TN_IMAGE (FROM scratch, binary sha256 ${sum:0:12})"
}

cmd_up() {
    local n=5 grafana=0 bin i block genesis
    while [ $# -gt 0 ]; do
        case "$1" in
            --grafana) grafana=1 ;;
            [0-9]*) n=$1 ;;
            *) tn_die "up: unknown argument $1" ;;
        esac
        shift
    done
    [ "$n" -ge 1 ] && [ "$n" -le 200 ] || tn_die "N must be 1..200"
    [ "$(id -u)" = 0 ] || tn_die "needs root (iptables, Docker socket, node uids)"
    if [ "$(tn_count)" != 0 ] && [ "$(tn_count)" != "$n" ]; then
        tn_die "a testnet of $(tn_count) nodes is up; run scripts/testnet.sh down first"
    fi
    if [ "$(tn_count)" = 0 ] && [ -n "$(docker ps -aq --filter label=io.fluxnode.testnet.node)" ]; then
        tn_die "testnet nodes from another state directory exist (not $TN_STATE); remove them with FLUXNODE_TESTNET_DIR=<that dir> scripts/testnet.sh down, or docker rm -f them"
    fi
    local t0
    t0=$(date +%s)
    install_deps
    mkdir -p "$TN_STATE/keys"

    if [ -n "${FLUXNODE_STATIC_BIN:-}" ]; then
        # scripts/test.sh has built it already.
        bin=$FLUXNODE_STATIC_BIN
        [ -x "$bin" ] || tn_die "FLUXNODE_STATIC_BIN=$bin is not an executable"
        tn_log "using $bin"
    else
        tn_log "building the static fluxnode (cargo; no-op when current)"
        bin=$("$TN_ROOT/scripts/build-static.sh")
    fi
    echo "$bin" >"$TN_STATE/bin"
    build_image "$bin"

    tn_log "keys"
    for i in $(seq 1 "$n"); do
        if [ ! -f "$TN_STATE/keys/node$i.key" ]; then
            "$bin" key generate --out "$TN_STATE/keys/node$i.key" >"$TN_STATE/keys/node$i.id" 2>/dev/null
        fi
        # The node runs as its own uid and must be the one reading its key (mode 0600).
        chown "$(tn_uid "$i"):$TN_GID" "$TN_STATE/keys/node$i.key"
    done
    [ -f "$TN_STATE/keys/owner.key" ] ||
        "$bin" key generate --out "$TN_STATE/keys/owner.key" >"$TN_STATE/keys/owner.id" 2>/dev/null

    if curl -fsS "http://$FLUXNODE_TEST_REGISTRY/v2/" >/dev/null 2>&1; then
        tn_log "registry already on $FLUXNODE_TEST_REGISTRY (not ours to stop)"
    else
        # 9>&-: the registry outlives this command and must not hold the testnet lock.
        FLUXNODE_REGISTRY_DIR=$TN_STATE/registry registry_up 9>&-
        touch "$TN_STATE/registry-ours"
    fi
    registry_push_busybox
    # All nodes share this host's engine, and a node that removes an app also removes the
    # app's image when no container uses it (image GC), while another node may be between
    # pulling that image and creating its container ("No such image"). A stopped container
    # holding the test image keeps it: Docker refuses a non-forced removal of an image in
    # use. On a real network each node has its own engine and this cannot happen.
    docker rm -f "$TN_PROJECT-image-pin" >/dev/null 2>&1 || true
    docker create --name "$TN_PROJECT-image-pin" --label io.fluxnode.test=1 \
        --label io.fluxnode.testnet.pin=1 "$FLUXNODE_TEST_REGISTRY/fluxnode-test/busybox:latest" >/dev/null

    # Heights start near mainnet's (~3.0 M) whatever the block time, so the spec rules in
    # force are today's (FluxOS forks are keyed by height): genesis = now - 3,000,000 blocks.
    block=${FLUXNODE_TESTNET_BLOCK_TIME:-1s}
    genesis=$(awk -v now="$(date +%s)" -v b="$block" 'BEGIN {
        s = b + 0; if (b ~ /ms$/) s = s / 1000; else if (b ~ /m$/) s = s * 60
        printf "%d", now - 3000000 * s }')
    {
        echo "FLUXNODE_TESTNET_STATE=$TN_STATE"
        echo "FLUXNODE_TESTNET_IMAGE=$TN_IMAGE"
        echo "FLUXNODE_TESTNET_DOCKER_GID=$(getent group docker | cut -d: -f3)"
        echo "FLUXNODE_TESTNET_BLOCK_TIME=$block"
        echo "FLUXNODE_TESTNET_GENESIS=$genesis"
        echo "FLUXNODE_TESTNET_LOG=${FLUXNODE_TESTNET_LOG:-info}"
        echo "FLUXNODE_TESTNET_MIN_UPTIME=${FLUXNODE_TESTNET_MIN_UPTIME:-0.9}"
        echo "FLUXNODE_TESTNET_ROLLOUT_DEADLINE=${FLUXNODE_TESTNET_ROLLOUT_DEADLINE:-5m}"
        echo "FLUXNODE_TESTNET_PROM_ADDR=$TN_PROM_ADDR"
        for i in $(seq 1 "$n"); do echo "FLUXNODE_TESTNET_ID_$i=$(tn_node_id "$i")"; done
    } >"$TN_STATE/testnet.env"
    tn_compose_yaml "$n" >"$TN_STATE/compose.yaml"
    echo "$n" >"$TN_STATE/nodes"

    tn_log "starting $n nodes (block time $block)"
    tn_compose up -d --no-build node$(seq -s ' node' 1 "$n") >&2
    tn_prom_up "$n"
    if [ "$grafana" = 1 ]; then
        if docker image inspect "${FLUXNODE_TESTNET_GRAFANA_IMAGE:-grafana/grafana-oss:10.4.2}" >/dev/null 2>&1; then
            tn_compose --profile grafana up -d grafana >&2
            tn_log "grafana on http://127.0.0.1:3000 (dashboard 'fluxnode testnet')"
        else
            tn_log "grafana image not present locally (no registry to pull from); skipped"
        fi
    fi
    tn_wait_ready "$n" "${FLUXNODE_TESTNET_READY_TIMEOUT:-180}" || {
        tn_log "nodes not ready; last log lines of each:"
        for i in $(seq 1 "$n"); do docker logs --tail 5 "$(tn_container "$i")" 2>&1 | sed "s/^/  node$i: /" >&2; done
        exit 1
    }
    tn_ingress_up "$bin"
    tn_client_install "$bin"
    tn_log "up in $(($(date +%s) - t0)) s: APIs $(tn_api 1) .. $(tn_api "$n"), prometheus http://$TN_PROM_ADDR, ingress http://$TN_INGRESS_ADDR"
}

cmd_down() {
    local ids
    ids=$(tn_all_ids || true)
    tn_heal
    tn_ingress_down
    if [ -f "$TN_STATE/compose.yaml" ]; then
        tn_compose --profile grafana down -v --remove-orphans -t 10 >&2 || true
    fi
    # Anything left with the testnet's labels (e.g. a node started by hand), the image pin.
    docker ps -aq --filter label=io.fluxnode.testnet.node | xargs -r docker rm -f >/dev/null
    docker ps -aq --filter label=io.fluxnode.testnet.pin | xargs -r docker rm -f >/dev/null
    # What the nodes created through the host engine carries their node id.
    for id in $ids; do
        docker ps -aq --filter "label=io.fluxnode.node=$id" | xargs -r docker rm -f >/dev/null
        docker network ls -q --filter "label=io.fluxnode.node=$id" | xargs -r docker network rm >/dev/null
        docker volume ls -q --filter "label=io.fluxnode.node=$id" | xargs -r docker volume rm >/dev/null
    done
    # And by the label every node adds to its app objects (FLUXNODE_DOCKER_LABELS).
    docker ps -aq --filter label=io.fluxnode.testnet=1 | xargs -r docker rm -f >/dev/null
    docker network ls -q --filter label=io.fluxnode.testnet=1 | xargs -r docker network rm >/dev/null
    docker volume ls -q --filter label=io.fluxnode.testnet=1 | xargs -r docker volume rm >/dev/null
    tn_prom_down
    if [ -f "$TN_STATE/registry-ours" ]; then
        FLUXNODE_REGISTRY_DIR=$TN_STATE/registry registry_down
    fi
    docker image rm "$TN_IMAGE" >/dev/null 2>&1 || true
    tn_client_remove
    rm -rf "$TN_STATE"
    tn_log "down: nodes, volumes, app containers, rules, ingress, registry (if ours), image and state removed"
}

cmd_status() {
    local n i code node
    n=$(tn_count)
    [ "$n" -gt 0 ] || { echo "no testnet (state dir $TN_STATE)"; return 0; }
    printf '%-6s %-15s %-10s %-9s %-6s %-5s %-10s %s\n' NODE ADDRESS GEO CONTAINER READYZ PEERS HEIGHT HOSTED
    for i in $(seq 1 "$n"); do
        code=$(tn_code "$i" /readyz)
        node=$(tn_get "$i" /api/v1/node 2>/dev/null || echo '{}')
        printf '%-6s %-15s %-10s %-9s %-6s %-5s %-10s %s\n' "node$i" "$(tn_ip "$i")" "$(tn_geo "$i")" \
            "$(docker inspect -f '{{.State.Status}}' "$(tn_container "$i")" 2>/dev/null || echo absent)" \
            "${code:-000}" "$(jq -r '.peers | if type == "array" then length else . end // "?"' <<<"$node" 2>/dev/null)" \
            "$(jq -r '.height // "?"' <<<"$node" 2>/dev/null)" \
            "$(jq -c '.hosted // []' <<<"$node" 2>/dev/null)"
    done
    echo
    echo "app containers:"
    # Only the testnet's: every node labels its app objects io.fluxnode.testnet=1.
    docker ps -a --filter label=io.fluxnode.app --filter label=io.fluxnode.testnet=1 \
        --format '  {{.Names}}\t{{.Status}}\t{{.Ports}}' | sort
    if iptables -L "$TN_CHAIN" -n >/dev/null 2>&1; then
        echo "partition: $(iptables -S "$TN_CHAIN" | grep -c -- '-j DROP') drop rules in $TN_CHAIN"
    else
        echo "partition: none"
    fi
    echo
    if [ -f "$TN_STATE/ingress/pid" ] && kill -0 "$(cat "$TN_STATE/ingress/pid")" 2>/dev/null; then
        echo "ingress: http://$TN_INGRESS_ADDR (Host: <app>.$TN_INGRESS_DOMAIN), stats http://$TN_INGRESS_STATS/stats; servers:"
        tn_ingress_servers | sed 's/^/  /'
    else
        echo "ingress: not running"
    fi
}

# Signs SPEC with the testnet owner key and sends it through node 1 as `app $1` (register,
# or update: a rolling update of the app SPEC names). The spec names its owner; on the
# testnet that is the testnet owner key's id.
owner_spec_action() {
    local verb=$1 spec=${2:-} bin tmp owner rc=0
    [ -f "$spec" ] || tn_die "$verb: SPEC file missing (e.g. testnet/demo-app.json)"
    [ "$(tn_count)" -gt 0 ] || tn_die "no testnet is up"
    bin=$(tn_bin)
    owner=$(cat "$TN_STATE/keys/owner.id")
    tmp=$(mktemp)
    jq --arg o "$owner" '.owner = $o' "$spec" >"$tmp"
    "$bin" app "$verb" "$tmp" --key "$TN_STATE/keys/owner.key" --api "$(tn_api 1)" || rc=$?
    rm -f "$tmp"
    return $rc
}
cmd_register() { owner_spec_action register "$@"; }
cmd_update() { owner_spec_action update "$@"; }

cmd_kill() {
    need_node "${1:-}"
    local i=$1
    docker kill "$(tn_container "$i")" >/dev/null 2>&1 || true
    if [ "${2:-}" != "--daemon-only" ]; then
        tn_app_containers "$i" | xargs -r docker kill >/dev/null 2>&1 || true
        tn_log "node$i killed with its app containers (host failure)"
    else
        tn_log "node$i daemon killed (app containers left running)"
    fi
}

cmd_restart() {
    need_node "${1:-}"
    local c
    c=$(tn_container "$1")
    if [ "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ]; then
        docker restart -t 30 "$c" >/dev/null
        tn_log "node$1 restarted (SIGTERM, then start)"
    else
        tn_compose up -d --no-build "node$1" >&2
        tn_log "node$1 started"
    fi
}

main() {
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case "$cmd" in
        up) tn_lock; cmd_up "$@" ;;
        down) tn_lock; cmd_down ;;
        status) cmd_status ;;
        register) cmd_register "$@" ;;
        update) cmd_update "$@" ;;
        kill) cmd_kill "$@" ;;
        restart) cmd_restart "$@" ;;
        partition)
            [ $# -gt 0 ] || tn_die "partition: give at least one group, e.g. 1,2"
            tn_partition "$(tn_count)" "$@" ;;
        heal) tn_heal ;;
        servers) tn_ingress_servers "${1:-}" ;;
        logs)
            need_node "${1:-}"
            docker logs --tail 200 ${2:+"$2"} "$(tn_container "$1")" ;;
        compose) tn_compose_yaml "${1:-5}" ;;
        -h | --help | help | "") usage ;;
        *) usage >&2; exit 2 ;;
    esac
}
main "$@"
