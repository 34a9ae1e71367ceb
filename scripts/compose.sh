#!/usr/bin/env bash
# Runs Compose (v2 plugin or v1 docker-compose, whichever this host has) on the coursehub
# project with the env file for interpolation. Everything else passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
export COURSEHUB_IMAGE_TAG="${COURSEHUB_IMAGE_TAG:-$(cat VERSION)}"
export COURSEHUB_ENV_FILE="${COURSEHUB_ENV_FILE:-env/coursehub.env}"
export COURSEHUB_STACK="${COURSEHUB_STACK:-coursehub}"
# The proxy serves HTTPS when the TLS folder holds a certificate and key; the hub must know
# (Secure cookies), so every compose call derives it the same way.
TLS_DIR="${COURSEHUB_TLS_DIR:-./tls}"
if [ -s "$TLS_DIR/tls.crt" ] && [ -s "$TLS_DIR/tls.key" ]; then export COURSEHUB_TLS=1; else export COURSEHUB_TLS=0; fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
else
    echo "error: neither 'docker compose' nor 'docker-compose' is installed" >&2
    exit 1
fi
env_args=()
[ -e "$COURSEHUB_ENV_FILE" ] && env_args=(--env-file "$COURSEHUB_ENV_FILE")
exec "${compose[@]}" -p "$COURSEHUB_STACK" "${env_args[@]}" -f docker-compose.yml "$@"
