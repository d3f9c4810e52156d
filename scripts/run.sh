#!/usr/bin/env bash
# Builds and runs ashtray on a Debian/Ubuntu machine, installing what it needs first.
#   ./scripts/run.sh --daemon      headless service host (servers)
#   ./scripts/run.sh               the tray app (workstations)
# Any other arguments are passed to ashtray (see ./scripts/run.sh --help).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

daemon=false
for arg in "$@"; do
  if [ "$arg" = "--daemon" ]; then daemon=true; fi
done

# The container engine: Debian's Docker unless Podman was asked for.
if [ "${AYON_USE_PODMAN:-0}" = 0 ] && [ -z "${DOCKER_HOST:-}${CONTAINER_HOST:-}" ]; then
  if ! command -v dockerd >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
  fi
  if ! /usr/bin/docker info >/dev/null 2>&1 && ! $SUDO /usr/bin/docker info >/dev/null 2>&1; then
    echo "run: starting dockerd"
    if command -v systemctl >/dev/null 2>&1 && systemctl list-unit-files docker.service >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $SUDO systemctl start docker
    else
      $SUDO sh -c 'nohup dockerd >/var/log/ashtray-dockerd.log 2>&1 &'
      for _ in $(seq 1 60); do $SUDO /usr/bin/docker info >/dev/null 2>&1 && break; sleep 0.5; done
    fi
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ashtray-target}"
if $daemon; then
  cargo build --release --locked -p ashtray --no-default-features
else
  bash scripts/setup-gui-env.sh --runtime-only
  cargo build --release --locked -p ashtray
fi
exec "$CARGO_TARGET_DIR/release/ashtray" "$@"
