#!/usr/bin/env bash
# Installs what the tray app's build and its GUI tests need on a Debian/Ubuntu machine:
# the WebKitGTK and appindicator development files (the `gui` feature links them), Xvfb
# and D-Bus (a display and a session bus for the window), gnome-keyring and secret-tool
# (the OS keyring the API key goes to), WebKit's and Chromium's WebDriver servers,
# ImageMagick (icons, screenshots) and `tauri-driver`.
# Idempotent and non-interactive: safe to run again. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# `--runtime-only`: what building and running the app needs, not its tests' tools.
packages="build-essential pkg-config libwebkit2gtk-4.1-dev libayatana-appindicator3-dev"
if [ "${1:-}" != "--runtime-only" ]; then
  packages="$packages xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools webkit2gtk-driver
    chromium chromium-driver imagemagick procps"
fi
need_packages=()
for pkg in $packages; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_packages+=("$pkg")
done
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "setup-gui: installing ${need_packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
fi

if [ "${1:-}" = "--runtime-only" ]; then exit 0; fi

if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup-gui: cargo install tauri-driver"
  # Its own target directory: it must not evict the project's build cache.
  CARGO_TARGET_DIR=/var/tmp/tauri-driver-target cargo install tauri-driver --locked --quiet
fi
echo "setup-gui: $(WebKitWebDriver --version 2>/dev/null | head -n1), $(chromedriver --version 2>/dev/null | head -n1)"
