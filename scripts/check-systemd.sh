#!/usr/bin/env bash
# Checks the systemd unit and the installer, offline (PID 1 need not be systemd):
#
#   1. scripts/install.sh --root TMP, twice: the second run must change nothing;
#   2. `systemd-analyze verify --root=TMP fluxnode.service`: the unit exactly as installed,
#      with its ExecStart binary present in TMP, must verify without a single message;
#   3. `systemd-analyze security --offline=true`: overall exposure must be <= 4.0
#      (systemd's "OK" band ends at 4.9; 4.0 keeps a margin below "MEDIUM").
#
#   scripts/check-systemd.sh [--bin FILE]     (default: $FLUXNODE_STATIC_BIN, else the static
#                                              build, built when stale)
#
# Installs Debian's `systemd` when systemd-analyze is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
max_exposure=4.0

bin=""
[ "${1:-}" = "--bin" ] && bin=$2
# scripts/test.sh exports the static build it made.
[ -n "$bin" ] || bin=${FLUXNODE_STATIC_BIN:-$(scripts/build-static.sh)}

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "[systemd] installing Debian's systemd for systemd-analyze"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/etc"
# A minimal user database for useradd --prefix (the installer creates the user in it).
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
printf 'root:*::\n' >"$root/etc/gshadow"

echo "[systemd] install.sh --root (first run)"
scripts/install.sh --bin "$bin" --root "$root" | tee "$tmp/first.log"
snapshot() { (cd "$root" && find . -printf '%p %m %u %g %s\n' | sort && find . -type f -exec sha256sum {} + | sort); }
snapshot >"$tmp/first.tree"
echo "[systemd] install.sh --root (second run: must change nothing)"
scripts/install.sh --bin "$bin" --root "$root" | tee "$tmp/second.log"
snapshot >"$tmp/second.tree"
if ! diff -u "$tmp/first.tree" "$tmp/second.tree"; then
    echo "[systemd] FAIL: the second install changed files (diff above)" >&2
    exit 1
fi
grep -q 'nothing to do: already installed' "$tmp/second.log" || {
    echo "[systemd] FAIL: the second install reported changes" >&2
    exit 1
}
grep -q '^fluxnode:' "$root/etc/passwd" && grep -q '^docker:.*fluxnode' "$root/etc/group" || {
    echo "[systemd] FAIL: user fluxnode missing or not in group docker" >&2
    exit 1
}
"$root/usr/local/bin/fluxnode" run --config "$root/etc/fluxnode/fluxnode.toml" --print-config >/dev/null || {
    echo "[systemd] FAIL: the installed example configuration does not load" >&2
    exit 1
}

# verify resolves dependencies (sysinit.target, docker.service, ...) inside the root, so the
# host's unit directory is copied in. A host without Docker's unit gets a stand-in.
mkdir -p "$root/lib/systemd"
cp -a /lib/systemd/system "$root/lib/systemd/"
if [ ! -e "$root/lib/systemd/system/docker.service" ]; then
    printf '[Unit]\nDescription=stand-in for Docker Engine\n[Service]\nExecStart=/bin/true\n' \
        >"$root/etc/systemd/system/docker.service"
    mkdir -p "$root/bin" && cp /bin/true "$root/bin/true"
    echo "[systemd] note: no docker.service on this host; verifying against a stand-in"
fi
echo "[systemd] systemd-analyze verify --root (the unit as installed)"
if ! systemd-analyze verify --root="$root" fluxnode.service >"$tmp/verify.log" 2>&1 || [ -s "$tmp/verify.log" ]; then
    cat "$tmp/verify.log" >&2
    echo "[systemd] FAIL: systemd-analyze verify is not clean" >&2
    exit 1
fi
echo "[systemd] verify: clean"

echo "[systemd] systemd-analyze security --offline=true scripts/fluxnode.service"
systemd-analyze security --offline=true scripts/fluxnode.service >"$tmp/security.log" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for fluxnode.service: \([0-9.]*\).*/\1/p' "$tmp/security.log")
if [ -z "$exposure" ]; then
    cat "$tmp/security.log" >&2
    echo "[systemd] FAIL: no exposure level in the output" >&2
    exit 1
fi
if awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e > m) }'; then
    grep -E '^✗' "$tmp/security.log" >&2 || true
    echo "[systemd] FAIL: exposure $exposure > $max_exposure" >&2
    exit 1
fi
echo "[systemd] security: exposure $exposure (<= $max_exposure)"
echo "[systemd] ok"
