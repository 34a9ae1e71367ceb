#!/usr/bin/env bash
# Runs Compose (v2 plugin or v1 docker-compose, whichever this host has) on the coursehub
# project with the env file for interpolation, against Docker or Podman (ENGINE). Everything
# else passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
if [ "$ENGINE" = podman ]; then
    # The Compose tool speaks Docker's API, here Podman's; the hub gets that socket where it
    # would find Docker's (docker-compose.yml, COURSEHUB_ENGINE_SOCKET), so its code is the same.
    podman_api_answers || scripts/podman-setup.sh service >&2
    export DOCKER_HOST="unix://$PODMAN_SOCKET" COURSEHUB_ENGINE_SOCKET="$PODMAN_SOCKET"
fi
# The proxy's host ports as Compose publishes them (lib.sh publish).
port="$(setting COURSEHUB_PORT)"
COURSEHUB_PUBLISH="$(publish "${port:-8000}")"
export COURSEHUB_PUBLISH
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
        COURSEHUB_HTTP_PUBLISH="$(publish "$COURSEHUB_HTTP_PORT")"
        export COURSEHUB_HTTP_PORT COURSEHUB_HTTP_PUBLISH
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
