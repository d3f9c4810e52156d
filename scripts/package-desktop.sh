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
# ASHTRAY_PACKAGE_PROFILE=debug packages the debug build instead of a release one: the same
# features as `cargo build -p ashtray`, so CI packages the GUI build it already made rather
# than compiling the whole GUI again with optimisations (35 min on 2 cores). Releases use
# the default, release.
profile="${ASHTRAY_PACKAGE_PROFILE:-release}"
profile_flag=()
if [ "$profile" = debug ]; then profile_flag=(--debug); fi
out="$CARGO_TARGET_DIR/$profile/bundle"
rm -rf "$out/deb" "$out/rpm"
(cd src-tauri && cargo tauri build --ci "${profile_flag[@]}" --bundles "$bundles" -- --locked) >&2
ls "$out"/deb/*.deb
ls "$out"/rpm/*.rpm 2>/dev/null || true
