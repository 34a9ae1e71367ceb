#!/usr/bin/env bash
# Builds every coursehub image, parents first. Docker's layer cache makes an unchanged
# image a no-op, so `make up` can call this every time and never runs stale code.
#   BASE_IMAGE       upstream base (default debian:bookworm-slim); when it cannot be had,
#                    a local bookworm base is built once with debootstrap (scripts/build-base.sh)
#   EXTRA_CA_CERTS   a PEM bundle of extra CAs to trust during builds and at run time
#                    (TLS-inspecting networks); default: the host's own bundle, if any
#   IMAGES           which images (default: all)
# With ENGINE=podman the images go into Podman's store: taken from Docker (docker save | podman
# load) when Docker on this host has them, else built by `podman build` from the same files;
# PODMAN_IMAGES=build builds every one with Podman (`make build ENGINE=podman`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

TAG="${COURSEHUB_IMAGE_TAG:-$(cat VERSION)}"
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
IMAGES="${IMAGES:-python proxy postgres hub notebook student instructor grader}"
BUILD_NETWORK="${BUILD_NETWORK:-host}"

engine info >/dev/null 2>&1 || fail "no $ENGINE engine answers (is it running, and may this user use it?)"

# Podman keeps Docker's HEALTHCHECK only in Docker's image format, not in OCI's (its default).
build_format=()
if [ "$ENGINE" = podman ]; then build_format=(--format docker); fi

if [ "$ENGINE" = podman ] && [ "${PODMAN_IMAGES:-docker}" = docker ] && docker info >/dev/null 2>&1; then
    # Docker's images, as they are (Docker's `make build` keeps them current): one save of all
    # that Podman lacks, or holds with another id, so shared layers travel once.
    moving=() remaining=() replaced=()
    for image in $IMAGES; do
        docker_id="$(docker image inspect -f '{{.Id}}' "coursehub/$image:$TAG" 2>/dev/null)" \
            || { remaining+=("$image"); continue; }
        podman_id="$(podman image inspect -f '{{.Id}}' "coursehub/$image:$TAG" 2>/dev/null || true)"
        if [ "$podman_id" != "${docker_id#sha256:}" ]; then
            moving+=("coursehub/$image:$TAG")
            [ -z "$podman_id" ] || replaced+=("$podman_id")
        fi
    done
    if [ ${#moving[@]} -gt 0 ]; then
        started=$SECONDS
        step "moving ${#moving[@]} images from Docker to Podman: ${moving[*]}"
        docker save "${moving[@]}" | podman load -q >/dev/null
        # The versions they replace, unless a container still runs one (podman then refuses).
        [ ${#replaced[@]} -eq 0 ] || podman rmi "${replaced[@]}" >/dev/null 2>&1 || true
        echo "    done in $((SECONDS - started)) s"
    else
        step "Podman holds Docker's coursehub images of $TAG"
    fi
    IMAGES="${remaining[*]}"
    [ -n "$IMAGES" ] || exit 0
    step "Docker has no ${IMAGES// /, }: building with Podman"
fi

# The base: upstream when present or pullable, otherwise our local debootstrap import.
if ! engine image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    if timeout 60 engine pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        step "pulled $BASE_IMAGE"
    else
        step "$BASE_IMAGE cannot be pulled here; using a local Debian bookworm base"
        BASE_IMAGE=coursehub/base:bookworm
        scripts/build-base.sh "$BASE_IMAGE"
    fi
fi

mkdir -p build/ca
CA="${EXTRA_CA_CERTS-/etc/ssl/certs/ca-certificates.crt}"
if [ -n "$CA" ] && [ -s "$CA" ]; then
    # Rewritten only when it differs, so builds running side by side see one stable context.
    cmp -s "$CA" build/ca/extra.crt || cp "$CA" build/ca/extra.crt
    step "trusting the extra CA bundle $CA"
else
    rm -f build/ca/extra.crt
fi

build() { # name, build-args...
    local name="$1"; shift
    local started=$SECONDS
    step "image coursehub/$name:$TAG"
    if ! engine build "${build_format[@]}" --network "$BUILD_NETWORK" -q -f "images/$name/Dockerfile" \
        -t "coursehub/$name:$TAG" "$@" . >"build/$name.$$.log" 2>&1; then
        tail -n 30 "build/$name.$$.log" >&2
        echo "error: building coursehub/$name failed; full log in build/$name.$$.log" >&2
        exit 1
    fi
    rm -f "build/$name.$$.log"
    echo "    done in $((SECONDS - started)) s"
}

for image in $IMAGES; do
    case "$image" in
        python|proxy|postgres) build "$image" --build-arg "BASE_IMAGE=$BASE_IMAGE" ;;
        hub|notebook) build "$image" --build-arg "PYTHON_IMAGE=coursehub/python:$TAG" ;;
        student|instructor|grader) build "$image" --build-arg "NOTEBOOK_IMAGE=coursehub/notebook:$TAG" ;;
        *) echo "error: unknown image $image" >&2; exit 2 ;;
    esac
done
