#!/usr/bin/env bash
# Builds the local Debian bookworm base image when the upstream one cannot be pulled.
# Hosts without a container registry (ENVIRONMENT: no registry, Debian's apt reachable)
# get the same userland as debian:bookworm-slim from debootstrap + `docker import` (or
# `podman import` with ENGINE=podman, which takes Docker's base instead when Docker has one).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

TAG="${1:-coursehub/base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if engine image inspect "$TAG" >/dev/null 2>&1; then
    echo "base: $TAG already present"
    exit 0
fi
if [ "$ENGINE" = podman ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    docker save "$TAG" | podman load -q >/dev/null
    echo "base: $TAG taken from Docker"
    exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "base: installing debootstrap (needs root and apt)"
    apt-get install -y -qq debootstrap >/dev/null || {
        echo "base: cannot install debootstrap; install it, or make the upstream base pullable" >&2
        exit 1
    }
fi

ROOT="$(mktemp -d /tmp/coursehub-base.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "base: debootstrap bookworm from $MIRROR (about 2-3 minutes, once per host)"
debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOT" "$MIRROR" >/tmp/coursehub-debootstrap.log 2>&1 || {
    echo "base: debootstrap failed, see /tmp/coursehub-debootstrap.log" >&2
    exit 1
}
# Same trims as the slim image: no apt lists or caches in the base layer.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb
echo "deb $MIRROR bookworm main" > "$ROOT/etc/apt/sources.list"
echo "deb $MIRROR bookworm-updates main" >> "$ROOT/etc/apt/sources.list"
echo "deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main" >> "$ROOT/etc/apt/sources.list"
tar -C "$ROOT" -c . | engine import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$TAG" >/dev/null
echo "base: imported $TAG ($(engine image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
