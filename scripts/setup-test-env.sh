#!/usr/bin/env bash
# Installs and starts what ashtray's tests need on a Debian/Ubuntu machine: the Docker
# engine, Debian's static busybox (the test images' base) and python3 (conformance.py).
# Idempotent: safe to run again. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_packages=()
for pkg in docker.io busybox-static python3 ca-certificates; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_packages+=("$pkg")
done
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "setup: installing ${need_packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
fi

# Debian's client matches Debian's daemon; another docker first on PATH may not.
DOCKER=/usr/bin/docker
if ! $SUDO $DOCKER info >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  $SUDO sh -c 'nohup dockerd >/tmp/ashtray-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    if $SUDO $DOCKER info >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  if ! $SUDO $DOCKER info >/dev/null 2>&1; then
    echo "setup: dockerd did not start; its log:" >&2
    tail -n 30 /tmp/ashtray-dockerd.log >&2 || true
    exit 1
  fi
fi
echo "setup: docker $($SUDO $DOCKER version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
