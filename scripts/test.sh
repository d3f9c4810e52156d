#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs and starts what the tests need, then
# format check, clippy (warnings are errors), and every test against real parts.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-test-env.sh

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
# Outside the clone, so a fresh clone reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ashtray-target}"
export CARGO_TERM_COLOR=never
# A CI machine builds once: incremental caches only cost time and disk there (8.6 GB of
# them in a run's target directory).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

# The tray app's build needs WebKitGTK; its tests need Xvfb, D-Bus, gnome-keyring and
# WebDriver servers (before clippy, which builds the `gui` feature).
bash scripts/setup-gui-env.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== headless build (no GTK/WebKit)"
cargo build -p ashtray --no-default-features --locked
# Kept apart: the workspace build below makes the GUI binary at the same path.
mkdir -p "$CARGO_TARGET_DIR/headless"
cp "$CARGO_TARGET_DIR/debug/ashtray" "$CARGO_TARGET_DIR/headless/ashtray"
if ldd "$CARGO_TARGET_DIR/headless/ashtray" | grep -Ei 'gtk|webkit|gdk|soup'; then
  echo "the headless binary links GUI libraries (above): it must not" >&2
  exit 1
fi
echo "headless binary links no GTK/WebKit: ok"
# The daemon's end-to-end tests run this very binary.
export ASHTRAY_BIN="$CARGO_TARGET_DIR/headless/ashtray"
echo "== tray app build (feature gui)"
cargo build -p ashtray --locked
mkdir -p "$CARGO_TARGET_DIR/gui"
cp "$CARGO_TARGET_DIR/debug/ashtray" "$CARGO_TARGET_DIR/gui/ashtray"
export ASHTRAY_GUI_BIN="$CARGO_TARGET_DIR/gui/ashtray"
echo "== tray host build (feature tray: no GTK/WebKit)"
cargo build -p ashtray --no-default-features --features tray --locked
if ldd "$CARGO_TARGET_DIR/debug/ashtray" | grep -Ei 'gtk|webkit|gdk|soup'; then
  echo "the tray host links GUI libraries (above): it must not" >&2
  exit 1
fi
echo "tray host links no GTK/WebKit: ok"
# The tray app as the desktop package installs it: the tray host as `ashtray`, the GUI
# build beside it as `ashtray-window`. tests/tests/gui.rs and tray.rs drive this layout
# (they bring their own Xvfb, D-Bus and keyring).
rm -rf "$CARGO_TARGET_DIR/desktop"
mkdir -p "$CARGO_TARGET_DIR/desktop"
cp "$CARGO_TARGET_DIR/debug/ashtray" "$CARGO_TARGET_DIR/desktop/ashtray"
cp "$ASHTRAY_GUI_BIN" "$CARGO_TARGET_DIR/desktop/ashtray-window"
export ASHTRAY_TRAY_BIN="$CARGO_TARGET_DIR/desktop/ashtray"
echo "== server package (cargo-deb)"
step=$SECONDS
# tests/tests/install.rs installs it into a clean Debian root.
ASHTRAY_DAEMON_DEB="$(bash scripts/package-daemon.sh)"
export ASHTRAY_DAEMON_DEB
echo "built $ASHTRAY_DAEMON_DEB ($(du -h "$ASHTRAY_DAEMON_DEB" | cut -f1)) in $((SECONDS - step)) s"
# The container image copies the headless release binary cargo-deb built above (stripped,
# as in the package): tests/tests/image.rs builds the image with scripts/build-image.sh on
# a Debian base it makes, and runs it. No Rust is compiled inside the image build.
mkdir -p "$CARGO_TARGET_DIR/headless-release"
strip -o "$CARGO_TARGET_DIR/headless-release/ashtray" "$CARGO_TARGET_DIR/release/ashtray"
export ASHTRAY_IMAGE_BIN="$CARGO_TARGET_DIR/headless-release/ashtray"
echo "== desktop packages (Tauri bundler)"
step=$SECONDS
# tests/tests/install.rs installs the .deb into a clean Debian root.
# The debug builds made above (the GUI build as ashtray-window, the tray host as ashtray),
# packaged as they are: what is tested is the bundle (its files, declared dependencies,
# entries), not the optimiser.
mapfile -t desktop_packages < <(ASHTRAY_PACKAGE_PROFILE=debug bash scripts/package-desktop.sh)
export ASHTRAY_DESKTOP_DEB="${desktop_packages[0]}"
if [ ${#desktop_packages[@]} -gt 1 ]; then
  export ASHTRAY_DESKTOP_RPM="${desktop_packages[1]}"
fi
for package in "${desktop_packages[@]}"; do
  echo "built $package ($(du -h "$package" | cut -f1))"
done
echo "desktop packages took $((SECONDS - step)) s"
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
