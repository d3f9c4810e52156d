#!/usr/bin/env bash
# Builds the tray app's packages with the Tauri bundler (tauri-cli from crates.io, the
# version of the tauri crate in Cargo.lock): ashtray_<version>_<arch>.deb, and the .rpm
# where rpmbuild is installed (Debian's package `rpm`). Prints each package's path, the
# .deb first. Bundles for other platforms (AppImage, macOS .app/.dmg, Windows NSIS/MSI) are
# configured in src-tauri/tauri.conf.json: ASHTRAY_BUNDLES=appimage (or app,dmg on a Mac,
# nsis,msi on Windows) builds those where their tools are.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ashtray-target}"

# The CLI of the same minor version as the tauri crate the app links.
tauri_version="$(awk '/^name = "tauri"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
wanted="~${tauri_version%.*}"
if ! cargo tauri --version 2>/dev/null | grep -q "tauri-cli ${tauri_version%.*}\."; then
  echo "package: installing tauri-cli $wanted (the tauri crate is $tauri_version)" >&2
  cargo install tauri-cli --version "$wanted" --locked --quiet >&2
fi

bundles="${ASHTRAY_BUNDLES:-deb}"
if [ -z "${ASHTRAY_BUNDLES:-}" ] && command -v rpmbuild >/dev/null 2>&1; then
  bundles="deb,rpm"
fi
# ASHTRAY_PACKAGE_PROFILE=debug packages debug builds instead of release ones: the same
# features as `cargo build -p ashtray`, so CI packages the GUI build it already made rather
# than compiling the whole GUI again with optimisations (35 min on 2 cores). Releases use
# the default, release.
profile="${ASHTRAY_PACKAGE_PROFILE:-release}"
cargo_flag=(--release)
bundle_flag=()
if [ "$profile" = debug ]; then cargo_flag=() bundle_flag=(--debug); fi
dir="$CARGO_TARGET_DIR/$profile"
out="$dir/bundle"

# The package holds two builds of one crate: /usr/bin/ashtray, the always-on tray host
# built without GTK/WebKit (feature `tray`), and /usr/bin/ashtray-window beside it, the GUI
# build (default features), which the host starts for each window. Linking GTK/WebKit is
# what makes a process cost (BENCHMARKS.md, issue 14), so the one that runs all day links
# neither. The window goes in as the bundler's external binary (`bundle.externalBin`,
# named `<name>-<target triple>`, installed beside the app's binary without the triple);
# it is given on the command line, not in tauri.conf.json, since tauri-build checks at
# compile time that every external binary exists, and this one is that very build.
triple="$(rustc -vV | sed -n 's/^host: //p')"
echo "package: the window (GUI build, $profile)" >&2
cargo build -p ashtray --locked "${cargo_flag[@]}" >&2
mkdir -p "$dir/window-bin"
cp "$dir/ashtray" "$dir/window-bin/ashtray-window-$triple"
# Last: the bundler packages $dir/ashtray as the app's binary.
echo "package: the tray host (no GTK/WebKit, $profile)" >&2
cargo build -p ashtray --no-default-features --features tray --locked "${cargo_flag[@]}" >&2
if command -v ldd >/dev/null && ldd "$dir/ashtray" | grep -Ei 'gtk|webkit|gdk|soup' >&2; then
  echo "package: the tray host links GUI libraries (above): it must not" >&2
  exit 1
fi
extra="{\"bundle\": {\"externalBin\": [\"$dir/window-bin/ashtray-window\"]}}"
rm -rf "$out/deb" "$out/rpm"
(cd src-tauri && cargo tauri bundle --ci "${bundle_flag[@]}" --bundles "$bundles" --config "$extra") >&2
ls "$out"/deb/*.deb
ls "$out"/rpm/*.rpm 2>/dev/null || true
