#!/usr/bin/env bash
# Builds the container image (packaging/image/Dockerfile) and prints its tag,
# ashtray:<version> unless ASHTRAY_IMAGE_TAG says otherwise.
#
#   scripts/build-image.sh                         compiles ashtray inside the image build
#   ASHTRAY_IMAGE_BIN=path scripts/build-image.sh  copies that headless binary (target
#                                                  `prebuilt`: no Rust in the build, as CI does)
#
# RUNTIME_IMAGE and RUST_IMAGE name other base images than the Dockerfile's defaults
# (debian:bookworm-slim, rust:1-bookworm), e.g. a studio's mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Debian client, as the tests use: another one first on PATH may speak an API
# version the daemon refuses.
docker=docker
[ -x /usr/bin/docker ] && docker=/usr/bin/docker

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
tag="${ASHTRAY_IMAGE_TAG:-ashtray:$version}"
args=(--build-arg "VERSION=$version" --build-arg "COMMIT=$commit" -t "$tag")
[ -n "${RUNTIME_IMAGE:-}" ] && args+=(--build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE")
[ -n "${RUST_IMAGE:-}" ] && args+=(--build-arg "RUST_IMAGE=$RUST_IMAGE")

if [ -n "${ASHTRAY_IMAGE_BIN:-}" ]; then
  # A context of its own: the binary lives outside the clone (CARGO_TARGET_DIR).
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' EXIT
  mkdir -p "$context/packaging/image"
  cp packaging/image/Dockerfile packaging/image/entrypoint.sh "$context/packaging/image/"
  cp "$ASHTRAY_IMAGE_BIN" "$context/ashtray"
  "$docker" build -q "${args[@]}" --target prebuilt --build-arg BINARY=ashtray \
    -f "$context/packaging/image/Dockerfile" "$context" >&2
else
  "$docker" build "${args[@]}" -f packaging/image/Dockerfile . >&2
fi
echo "$tag"
