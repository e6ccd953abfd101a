# Local image registry for tests and the testnet: Debian's docker-registry on loopback, and
# test images built FROM scratch from static binaries (no image can be pulled here).
#
# Source this file, then:
#   registry_up        start the registry (idempotent); exports FLUXNODE_TEST_REGISTRY
#   registry_push_busybox   build and push $FLUXNODE_TEST_REGISTRY/fluxnode-test/busybox:latest
#   registry_down      stop the registry started by registry_up and delete its storage
#
# Docker trusts plain-HTTP registries on 127.0.0.0/8 without configuration, so the real
# pull path is exercised.

: "${FLUXNODE_TEST_REGISTRY:=127.0.0.1:5000}"
export FLUXNODE_TEST_REGISTRY
FLUXNODE_REGISTRY_DIR="${FLUXNODE_REGISTRY_DIR:-/tmp/fluxnode-registry}"

registry_log() { printf '[registry] %s\n' "$*" >&2; }

registry_install() {
    local need=()
    command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
    dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
    if [ ${#need[@]} -gt 0 ]; then
        registry_log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
}

registry_up() {
    registry_install
    if curl -fsS "http://$FLUXNODE_TEST_REGISTRY/v2/" >/dev/null 2>&1; then
        registry_log "already answering on $FLUXNODE_TEST_REGISTRY"
        return 0
    fi
    mkdir -p "$FLUXNODE_REGISTRY_DIR/data"
    cat >"$FLUXNODE_REGISTRY_DIR/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $FLUXNODE_REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $FLUXNODE_TEST_REGISTRY
CONF
    nohup docker-registry serve "$FLUXNODE_REGISTRY_DIR/config.yml" \
        >"$FLUXNODE_REGISTRY_DIR/registry.log" 2>&1 &
    echo $! >"$FLUXNODE_REGISTRY_DIR/pid"
    for _ in $(seq 1 50); do
        curl -fsS "http://$FLUXNODE_TEST_REGISTRY/v2/" >/dev/null 2>&1 && {
            registry_log "up on $FLUXNODE_TEST_REGISTRY (pid $(cat "$FLUXNODE_REGISTRY_DIR/pid"))"
            return 0
        }
        sleep 0.2
    done
    registry_log "did not start; log follows"
    cat "$FLUXNODE_REGISTRY_DIR/registry.log" >&2
    return 1
}

# Builds a FROM-scratch image holding only a static busybox (with its applets linked under
# /bin) and pushes it, so tests can run shells, httpd and nc without any base image.
registry_push_busybox() {
    local tag="$FLUXNODE_TEST_REGISTRY/fluxnode-test/busybox:latest"
    local ctx
    ctx=$(mktemp -d)
    cp /bin/busybox "$ctx/busybox"
    cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENTRYPOINT []
CMD ["/bin/sh"]
DOCKERFILE
    docker build -q -t "$tag" "$ctx" >/dev/null
    docker push -q "$tag" >/dev/null
    rm -rf "$ctx"
    registry_log "pushed $tag"
}

registry_down() {
    if [ -f "$FLUXNODE_REGISTRY_DIR/pid" ]; then
        kill "$(cat "$FLUXNODE_REGISTRY_DIR/pid")" 2>/dev/null || true
        rm -rf "$FLUXNODE_REGISTRY_DIR"
        registry_log "stopped"
    fi
}
