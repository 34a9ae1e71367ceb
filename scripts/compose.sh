#!/usr/bin/env bash
# Runs Compose (v2 plugin or v1 docker-compose, whichever this host has) on the coursehub
# project with the env file for interpolation. Everything else passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
export COURSEHUB_ENV_FILE="${COURSEHUB_ENV_FILE:-env/coursehub.env}"
export COURSEHUB_STACK="${COURSEHUB_STACK:-coursehub}"
. scripts/lib.sh
# The proxy serves HTTPS when the TLS folder holds a certificate and key; the hub must know
# (Secure cookies), and the proxy then also redirects plain HTTP on a second port, so every
# compose call derives both the same way.
files=(-f docker-compose.yml)
COURSEHUB_CONFIG_HASH="$(config_hash)"
export COURSEHUB_CONFIG_HASH
export COURSEHUB_TLS=0
if tls_on; then
    export COURSEHUB_TLS=1
    COURSEHUB_HTTP_PORT="$(http_redirect_port)"
    if [ "$COURSEHUB_HTTP_PORT" != off ]; then
        export COURSEHUB_HTTP_PORT
        COURSEHUB_REDIRECT_TO="$(https_redirect_target)"
        export COURSEHUB_REDIRECT_TO
        files+=(-f docker-compose.redirect.yml)
    fi
fi
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
exec "${compose[@]}" -p "$COURSEHUB_STACK" "${env_args[@]}" "${files[@]}" "$@"
