#!/usr/bin/env bash
# Build the inferwatch images with podman (buildah under it):
#   localhost/inferwatch:<version> and localhost/inferwatch:dev   (target agent)
#   localhost/inferwatch-demo:<version> and :dev                  (target demo, with --demo)
# The base comes from BASE_IMAGE when set (e.g. localhost/debian-min:bookworm from
# deploy/base-image.sh, for machines that cannot pull), else the Containerfile's default.
# Usage: bash deploy/build-image.sh [--demo] [extra podman build options...]
set -euo pipefail
cd "$(dirname "$0")/.."
target=agent name=localhost/inferwatch
if [ "${1:-}" = "--demo" ]; then
  shift
  target=demo name=localhost/inferwatch-demo
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
args=(--format docker --target "$target" -f deploy/Containerfile
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
  -t "$name:$version" -t "$name:dev")
[ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
# pip inside the build trusts what pip on this machine trusts (a TLS-inspecting proxy's CA):
# the CA bundle pip is configured with here, else the system's, mounted for the build only.
cert="${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
cert="${cert:-/etc/ssl/certs/ca-certificates.crt}"
if [ -f "$cert" ]; then
  args+=(-v "$cert:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi
# The demo's torch wheel from a local folder when pip here finds it on disk (find-links).
if [ "$target" = demo ]; then
  wheels="${TORCH_WHEELS:-$(python3 -m pip config get global.find-links 2>/dev/null || true)}"
  if [ -n "$wheels" ] && ls "$wheels"/torch-*.whl >/dev/null 2>&1; then
    args+=(-v "$wheels:/wheels:ro")
  fi
fi
# runc: crun fails on some kernels' cgroups (ARCHITECTURE.md); host network: the build
# reaches the package index the way this machine does.
podman --runtime "${PODMAN_RUNTIME:-runc}" build --network=host "${args[@]}" "$@" .
echo "built $name:$version and $name:dev"
