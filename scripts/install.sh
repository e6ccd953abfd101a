#!/usr/bin/env bash
# Installs fluxnode as a systemd service. Idempotent: a second run changes nothing that is
# already in place, and never overwrites the configuration or the node key.
#
#   scripts/install.sh [--bin FILE] [--prefix DIR] [--root DIR] [--enable]
#
#   --bin FILE     the fluxnode binary to install (default: ./fluxnode next to this script,
#                  else target/release/fluxnode, else the static build)
#   --prefix DIR   installation prefix of the binary (default /usr/local → /usr/local/bin)
#   --root DIR     install into DIR as a filesystem root (users in DIR/etc/passwd, files
#                  under DIR); for packaging and tests. systemd is not touched.
#   --enable       also `systemctl enable --now fluxnode` (only with a running systemd)
#
# What it does:
#   1. PREFIX/bin/fluxnode (0755)
#   2. system user and group `fluxnode`, member of group `docker` (created when absent)
#   3. /etc/fluxnode/fluxnode.toml from scripts/fluxnode.example.toml, only when absent
#   4. /var/lib/fluxnode/node.key generated when absent (prints the node id)
#   5. /etc/modules-load.d/fluxnode.conf: the loop module at boot (fixed-size app volumes)
#   6. /etc/systemd/system/fluxnode.service, then `systemctl daemon-reload` when systemd runs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

bin="" prefix=/usr/local root="" enable=0
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --root) root=$2; shift 2 ;;
        --enable) enable=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$root" ]; then
    mkdir -p "$root"
    root=$(cd "$root" && pwd)
    [ "$root" = / ] && root=""
fi
[ "$(id -u)" = 0 ] || [ -n "$root" ] || { echo "install.sh: run as root (or use --root DIR)" >&2; exit 1; }

say() { printf '[install] %s\n' "$*"; }
changed=0

if [ -z "$bin" ]; then
    for candidate in "$here/fluxnode" "$repo/target/release/fluxnode" \
        "$repo/target/static/x86_64-unknown-linux-gnu/release/fluxnode"; do
        [ -x "$candidate" ] && { bin=$candidate; break; }
    done
fi
[ -n "$bin" ] && [ -x "$bin" ] || {
    echo "install.sh: no fluxnode binary; build one (cargo build --release -p fluxnode) or pass --bin FILE" >&2
    exit 1
}

# Copies $1 to $2 with mode $3 unless $2 already has exactly that content.
put() {
    local src=$1 dst=$2 mode=$3
    if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
        chmod "$mode" "$dst"
        say "unchanged $dst"
        return 0
    fi
    install -D -m "$mode" "$src" "$dst"
    changed=1
    say "installed $dst"
}

# 1. binary
put "$bin" "$root$prefix/bin/fluxnode" 0755

# 2. user and groups. With --root, useradd/groupadd --prefix edit DIR/etc/{passwd,group,...}.
ug_opts=()
[ -n "$root" ] && ug_opts=(--prefix "$root")
lookup() { # lookup passwd|group NAME -> the entry's id, from the target root's files
    awk -F: -v n="$2" '$1 == n { print $3 }' "$root/etc/$1" 2>/dev/null
}
if [ -z "$(lookup group docker)" ]; then
    # Docker's package creates this group; creating it first lets the socket's group
    # match once Docker is installed.
    groupadd "${ug_opts[@]}" --system docker
    say "created group docker"
fi
if [ -z "$(lookup passwd fluxnode)" ]; then
    useradd "${ug_opts[@]}" --system --user-group --no-create-home \
        --home-dir /var/lib/fluxnode --shell /usr/sbin/nologin \
        --comment "fluxnode daemon" --groups docker fluxnode
    changed=1
    say "created system user fluxnode (groups fluxnode, docker)"
elif ! awk -F: '$1 == "docker"' "$root/etc/group" | cut -d: -f4 | tr ',' '\n' | grep -qx fluxnode; then
    usermod "${ug_opts[@]}" -a -G docker fluxnode
    changed=1
    say "added fluxnode to group docker"
else
    say "unchanged user fluxnode"
fi
uid=$(lookup passwd fluxnode)
gid=$(lookup group fluxnode)

# 3. configuration, only when absent: it is the operator's file from then on.
conf_dir="$root/etc/fluxnode"
install -d -m 0750 -o 0 -g "$gid" "$conf_dir" 2>/dev/null || install -d -m 0750 "$conf_dir"
if [ -e "$conf_dir/fluxnode.toml" ]; then
    say "kept existing $conf_dir/fluxnode.toml"
else
    install -m 0640 "$here/fluxnode.example.toml" "$conf_dir/fluxnode.toml"
    chown "0:$gid" "$conf_dir/fluxnode.toml" 2>/dev/null || true
    changed=1
    say "wrote $conf_dir/fluxnode.toml (every key commented: edit node.geo and node.advertise_addr)"
fi

# 4. state directory and node key (systemd's StateDirectory= would create the directory; the
# key is made here so the operator learns the node id before the first start).
state="$root/var/lib/fluxnode"
install -d -m 0700 "$state"
chown "$uid:$gid" "$state" 2>/dev/null || true
if [ -e "$state/node.key" ]; then
    say "kept existing $state/node.key (node id $("$root$prefix/bin/fluxnode" key show "$state/node.key" 2>/dev/null))"
else
    id=$("$root$prefix/bin/fluxnode" key generate --out "$state/node.key" 2>/dev/null)
    chown "$uid:$gid" "$state/node.key" 2>/dev/null || true
    changed=1
    say "generated $state/node.key: node id $id"
fi

# 5. the kernel's loop module at every boot (fixed-size app volumes; the unit may not load
# modules itself), and now when this is the running system.
modules_tmp=$(mktemp)
printf '# fluxnode: fixed-size app volumes are ext4 images on loop devices\nloop\n' >"$modules_tmp"
put "$modules_tmp" "$root/etc/modules-load.d/fluxnode.conf" 0644
rm -f "$modules_tmp"
if [ -z "$root" ] && [ ! -e /dev/loop-control ]; then
    modprobe loop 2>/dev/null && say "loaded the loop module" ||
        say "WARNING: no loop devices (modprobe loop failed): app volumes cannot be fixed-size; see fluxnode doctor"
fi

# 6. unit; ExecStart follows --prefix.
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed "s#^ExecStart=/usr/local/bin/fluxnode #ExecStart=$prefix/bin/fluxnode #" \
    "$here/fluxnode.service" >"$unit_tmp"
before=$changed
put "$unit_tmp" "$root/etc/systemd/system/fluxnode.service" 0644
unit_changed=$((changed - before))

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    if [ "$unit_changed" = 1 ]; then
        systemctl daemon-reload
        say "systemctl daemon-reload"
    fi
    if [ "$enable" = 1 ]; then
        systemctl enable --now fluxnode.service
        say "enabled and started fluxnode.service"
    else
        say "start it with: systemctl enable --now fluxnode"
    fi
elif [ -z "$root" ]; then
    say "systemd is not running here: unit installed, not loaded"
fi
if [ "$changed" = 0 ]; then say "nothing to do: already installed"; else say "done"; fi
