#!/usr/bin/env bash
# Builds the server package, ashtray-daemon_<version>_<arch>.deb: the headless binary and
# its systemd unit (packaging/daemon/), with cargo-deb. Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ashtray-target}"

if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: installing cargo-deb" >&2
  cargo install cargo-deb --locked --quiet >&2
fi
cargo deb -p ashtray --locked --quiet 2>&1 | tail -n 1
