#!/usr/bin/env bash
# Installs and starts what ashtray's tests need on a Debian/Ubuntu machine: the Docker
# engine, Debian's static busybox (the test images' base), python3 (conformance.py) and
# schemathesis (PyPI, in its own venv: the API contract test).
# Idempotent: safe to run again. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_packages=()
# debootstrap and systemd: the package tests install into a clean Debian root and verify
# the unit with systemd-analyze; python3-venv: schemathesis; docker-registry (the
# distribution registry, run on loopback by each pull test, never as a system service)
# and apache2-utils (htpasswd, for its bcrypt credentials): tests/tests/images.rs.
for pkg in docker.io podman curl busybox-static python3 python3-venv ca-certificates debootstrap systemd docker-registry apache2-utils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_packages+=("$pkg")
done
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "setup: installing ${need_packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
  # The package enables a registry on :5000 at boot; the tests start their own.
  $SUDO systemctl disable docker-registry >/dev/null 2>&1 || true
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

# Podman serves the same API on its own socket. Here every container start fails on
# ulimits unless the defaults are emptied (see shared/PLATFORM.md).
if ! grep -qs '^default_ulimits' /etc/containers/containers.conf; then
  $SUDO mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n' | $SUDO tee -a /etc/containers/containers.conf >/dev/null
fi
if [ ! -S /run/podman/podman.sock ] || ! curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1; then
  echo "setup: starting podman system service"
  $SUDO mkdir -p /run/podman
  $SUDO sh -c 'nohup podman system service --time=0 unix:///run/podman/podman.sock >/tmp/ashtray-podman.log 2>&1 &'
  for _ in $(seq 1 40); do
    curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
echo "setup: podman $(podman --version | awk '{print $3}') on /run/podman/podman.sock"

# schemathesis fuzzes both API listeners against their OpenAPI documents
# (tests/tests/contract.rs). Pinned, so its checks change only when we choose; in a venv
# outside the clone, so a fresh clone reuses it. Only PyPI is asked, and only when the
# pinned version is not there yet.
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV="${ASHTEST_SCHEMATHESIS_VENV:-/var/tmp/ashtray-schemathesis}"
if ! "$SCHEMATHESIS_VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  echo "setup: installing schemathesis $SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV"
  python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
echo "setup: $("$SCHEMATHESIS_VENV/bin/schemathesis" --version)"
