#!/bin/sh
# Install order-gateway as a systemd service. Idempotent: run it again to
# upgrade the package; an existing config is never overwritten.
#
#   sudo systemd/install.sh [--root DIR] [--no-venv] [--with-venv] [REPO]
#
# REPO       the checkout to install from (default: the one holding this script)
# --root DIR install into DIR instead of / (DESTDIR style: for tests and image
#            builds). No account is created, nothing is chowned, systemd is not
#            reloaded, and the venv is skipped unless --with-venv (a venv names
#            its own absolute path, so one built under DIR only runs from DIR).
# --no-venv  skip building /opt/order-gateway/.venv
#
# Result:
#   user/group order-gateway (system, no login, home /var/lib/order-gateway)
#   /etc/sysusers.d/order-gateway.conf           the same account, declaratively
#   /opt/order-gateway/.venv                     the package (Cython core compiled here)
#   /etc/order-gateway/gateway.toml              from config/production.toml, root:order-gateway 0640
#   /etc/order-gateway/keys/                     root:root 0700: every venue's key files (0600),
#                                                e.g. citrex.hex; the unit hands each over as keys_FILE
#   /etc/systemd/system/order-gateway.service    0644
# /run/order-gateway and /var/lib/order-gateway are made by systemd at start
# (RuntimeDirectory=, StateDirectory=).
set -eu

NAME=order-gateway
ROOT=""
VENV=auto
REPO=""

usage() { sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
        --root=*) ROOT=${1#--root=}; shift ;;
        --no-venv) VENV=no; shift ;;
        --with-venv) VENV=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$REPO" ] || die "one REPO only"; REPO=$1; shift ;;
    esac
done

if [ -z "$REPO" ]; then
    REPO=$(cd "$(dirname "$0")/.." && pwd)
fi
REPO=$(cd "$REPO" && pwd) || die "no such checkout: $REPO"
[ -f "$REPO/pyproject.toml" ] && [ -f "$REPO/config/production.toml" ] && [ -f "$REPO/systemd/$NAME.service" ] \
    || die "$REPO is not an order-gateway checkout"

if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" != "/" ] || ROOT=""
fi
if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (or with --root DIR)"
fi
[ "$VENV" != auto ] || { [ -z "$ROOT" ] && VENV=yes || VENV=no; }

umask 022
REAL=$([ -z "$ROOT" ] && echo yes || echo no)   # installing onto this machine

# ---- account ----
install -d -m 0755 "$ROOT/etc/sysusers.d"
cat > "$ROOT/etc/sysusers.d/$NAME.conf.tmp" <<EOF
# order-gateway daemon (systemd/order-gateway.service)
u $NAME - "order-gateway daemon" /var/lib/$NAME /usr/sbin/nologin
EOF
chmod 0644 "$ROOT/etc/sysusers.d/$NAME.conf.tmp"
mv -f "$ROOT/etc/sysusers.d/$NAME.conf.tmp" "$ROOT/etc/sysusers.d/$NAME.conf"
if [ "$REAL" = yes ]; then
    if getent passwd "$NAME" >/dev/null; then
        say "user $NAME exists"
    elif command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers "/etc/sysusers.d/$NAME.conf"
        say "created user $NAME (systemd-sysusers)"
    else
        useradd --system --user-group --home-dir "/var/lib/$NAME" --no-create-home \
            --shell /usr/sbin/nologin --comment "order-gateway daemon" "$NAME"
        say "created user $NAME (useradd)"
    fi
else
    say "--root: not creating user $NAME (systemd-sysusers --root $ROOT would, from etc/sysusers.d/$NAME.conf)"
fi

# ---- package ----
install -d -m 0755 "$ROOT/opt/$NAME"
install -m 0644 "$REPO/README.md" "$ROOT/opt/$NAME/README.md"
if [ "$VENV" = yes ]; then
    PYTHON=${PYTHON:-python3}
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "order-gateway needs Python 3.11 or newer"' \
        || die "$PYTHON: need Python 3.11+"
    V="$ROOT/opt/$NAME/.venv"
    [ -x "$V/bin/python" ] || "$PYTHON" -m venv "$V"
    "$V/bin/python" -m pip --disable-pip-version-check -q install --upgrade pip
    # --force-reinstall --no-deps: rebuild from the checkout even when the version did not change;
    # then a plain install pulls any dependency that is missing or new
    "$V/bin/python" -m pip --disable-pip-version-check -q install --force-reinstall --no-deps "$REPO"
    "$V/bin/python" -m pip --disable-pip-version-check -q install "$REPO"
    "$V/bin/gateway" selfcheck >/dev/null || die "$V/bin/gateway selfcheck failed"
    say "installed $(cd /tmp && "$V/bin/python" -c 'import importlib.metadata as m; print("order-gateway", m.version("order-gateway"))') into $V"
else
    say "skipping the venv (/opt/$NAME/.venv)"
fi

# ---- config and keys ----
install -d -m 0750 "$ROOT/etc/$NAME"
install -d -m 0700 "$ROOT/etc/$NAME/keys"
[ "$REAL" = no ] || chown "root:$NAME" "/etc/$NAME"
CONF="$ROOT/etc/$NAME/gateway.toml"
if [ ! -e "$CONF" ]; then
    install -m 0640 "$REPO/config/production.toml" "$CONF"
    [ "$REAL" = no ] || chown "root:$NAME" "$CONF"
    say "wrote /etc/$NAME/gateway.toml: review it"
elif cmp -s "$REPO/config/production.toml" "$CONF"; then
    say "/etc/$NAME/gateway.toml unchanged"
else
    install -m 0640 "$REPO/config/production.toml" "$CONF.dist"
    [ "$REAL" = no ] || chown "root:$NAME" "$CONF.dist"
    say "kept your /etc/$NAME/gateway.toml; the new example is gateway.toml.dist"
fi

# ---- unit ----
# local changes belong in `systemctl edit order-gateway` (a drop-in), not here
install -d -m 0755 "$ROOT/etc/systemd/system"
install -m 0644 "$REPO/systemd/$NAME.service" "$ROOT/etc/systemd/system/$NAME.service"
say "installed /etc/systemd/system/$NAME.service"

if [ "$REAL" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    say "systemd reloaded"
else
    say "systemd is not running here (or --root): skipped daemon-reload"
fi

[ -e "$ROOT/etc/$NAME/keys/citrex.hex" ] || say "next: put each venue's key files in /etc/$NAME/keys/ (root:root 0600; the example config wants citrex.hex, seen by the service as keys_citrex.hex)"
say "then: systemctl enable --now $NAME; journalctl -u $NAME -f"
