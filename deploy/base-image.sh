#!/usr/bin/env bash
# Make a local Debian 12 base image with debootstrap, for sites (and CI here) that cannot
# pull from a registry: `localhost/debian-min:bookworm`, minbase plus Debian's own python3,
# python3-venv and CA certificates. The agent image then builds on it with
#   BASE_IMAGE=localhost/debian-min:bookworm bash deploy/build-image.sh
# Usage: bash deploy/base-image.sh [MIRROR]   (default: the first Debian mirror in /etc/apt)
# Needs root (debootstrap), podman and debootstrap; about 30 s and 150 MB.
set -euo pipefail
TAG="${BASE_TAG:-localhost/debian-min:bookworm}"
mirror="${1:-}"
if [ -z "$mirror" ]; then
  # deb822 sources (URIs:) or one-line sources (deb URL suite ...), the first Debian one.
  mirror=$(grep -rhoE '^(URIs:\s*|deb\s+)(\[[^]]*\]\s*)?https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+' | grep -E '/debian/?$' | head -1 || true)
  mirror="${mirror:-http://deb.debian.org/debian}"
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "base-image.sh: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "base-image.sh: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >/dev/null
# Keep the image small: no apt lists, docs or man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
echo "$TAG"
