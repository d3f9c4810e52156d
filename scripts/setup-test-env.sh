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
# the unit with systemd-analyze; python3-venv: schemathesis; docker-compose: the image test
# runs ash's compose snippet (Debian's compose is the standalone 1.29); rpm: the Tauri
# bundler's .rpm; docker-registry (the distribution registry, run on loopback by each
# pull test, never as a system service) and apache2-utils (htpasswd, for its bcrypt
# credentials): tests/tests/images.rs; uidmap and slirp4netns: rootless Podman.
for pkg in docker.io podman curl busybox-static python3 python3-venv ca-certificates debootstrap systemd docker-compose rpm uidmap slirp4netns docker-registry apache2-utils; do
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
  $SUDO sh -c 'cd / && nohup dockerd >/tmp/ashtray-dockerd.log 2>&1 &'
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
  # From /: a service started in the clone keeps it as its working directory, and once
  # the clone is removed conmon fails every start ("write child: broken pipe").
  $SUDO sh -c 'cd / && nohup podman system service --time=0 unix:///run/podman/podman.sock >/tmp/ashtray-podman.log 2>&1 &'
  for _ in $(seq 1 40); do
    curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
echo "setup: podman $(podman --version | awk '{print $3}') on /run/podman/podman.sock"

# Rootless Podman, as most studios run it (tests/tests/rootless.rs): an unprivileged user
# with its subuid/subgid ranges (useradd writes them; uidmap maps them), its runtime
# directory as a login would make it, and its own `podman system service` on
# $XDG_RUNTIME_DIR/podman/podman.sock. slirp4netns gives its containers a network and
# needs /dev/net/tun open to users, as Debian has it (0666); some sandboxes make it 0600.
rootless=ashtray-rootless
if ! id "$rootless" >/dev/null 2>&1; then
  $SUDO useradd --create-home --shell /usr/sbin/nologin "$rootless"
fi
if ! grep -qs "^$rootless:" /etc/subuid; then
  $SUDO usermod --add-subuids 300000-365535 --add-subgids 300000-365535 "$rootless"
fi
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  $SUDO chmod 0666 /dev/net/tun
fi
rootless_uid="$(id -u "$rootless")"
rootless_run="/run/user/$rootless_uid"
$SUDO install -d -m 0700 -o "$rootless" -g "$(id -g "$rootless")" "$rootless_run"
rootless_socket="$rootless_run/podman/podman.sock"
as_rootless=($SUDO runuser -u "$rootless" -- env "XDG_RUNTIME_DIR=$rootless_run" "HOME=/home/$rootless")
if ! curl -sf --unix-socket "$rootless_socket" http://d/_ping >/dev/null 2>&1; then
  echo "setup: starting rootless podman system service for $rootless"
  "${as_rootless[@]}" sh -c 'cd ~ && nohup podman system service --time=0 >/tmp/ashtray-podman-rootless.log 2>&1 &'
  for _ in $(seq 1 40); do
    curl -sf --unix-socket "$rootless_socket" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
echo "setup: rootless podman of $rootless on $rootless_socket ($("${as_rootless[@]}" podman info --format '{{.Host.Security.Rootless}}' 2>/dev/null))"

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
