#!/usr/bin/env bash
# Builds and runs ashtray on a Debian/Ubuntu machine, installing what it needs first.
#   ./scripts/run.sh --daemon      headless service host (servers)
#   ./scripts/run.sh               the tray app (workstations)
# Any other arguments are passed to ashtray (see ./scripts/run.sh --help).
# With no AYON server given (AYON_SERVER_URL, --server-url or .env) and no local services
# file (ASHTRAY_SERVICES, --services), it runs the demo of examples/services.toml.
# ASHTRAY_RUN_BIN=path runs that ashtray binary instead of building one (the tests do).
set -euo pipefail
cd "$(dirname "$0")/.."

given() {
  for arg in "${@:2}"; do
    case "$arg" in "$1" | "$1"=*) return 0 ;; esac
  done
  return 1
}
if [ -z "${AYON_SERVER_URL:-}" ] && [ -z "${ASHTRAY_SERVICES:-}" ] \
  && ! grep -Eqs '^[[:space:]]*(export[[:space:]]+)?(AYON_SERVER_URL|ASHTRAY_SERVICES)=.' .env \
  && ! given --server-url "$@" && ! given --services "$@"; then
  export ASHTRAY_SERVICES="$PWD/examples/services.toml"
  echo "run: no AYON server given (AYON_SERVER_URL): running the demo services of examples/services.toml"
fi

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
      $SUDO sh -c 'cd / && nohup dockerd >/var/log/ashtray-dockerd.log 2>&1 &'
      for _ in $(seq 1 60); do $SUDO /usr/bin/docker info >/dev/null 2>&1 && break; sleep 0.5; done
    fi
  fi
fi

if [ -n "${ASHTRAY_RUN_BIN:-}" ]; then
  exec "$ASHTRAY_RUN_BIN" "$@"
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
