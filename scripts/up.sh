#!/usr/bin/env bash
# `make up`: secrets, images, settings check, start, wait for health, print how to connect.
set -euo pipefail
cd "$(dirname "$0")/.."
export COURSEHUB_SETTINGS_FILE="${COURSEHUB_SETTINGS_FILE:-$PWD/settings.yaml}"
export COURSEHUB_SECRETS_DIR="${COURSEHUB_SECRETS_DIR:-$PWD/env/secrets}"
. scripts/lib.sh
started=$SECONDS

if [ "$ENGINE" = podman ]; then
    scripts/podman-setup.sh
    podman info >/dev/null 2>&1 || fail "podman does not run here: 'podman info' says why (docs/operations.md#podman)"
else
    docker info >/dev/null 2>&1 || fail "no Docker engine answers. Start dockerd (systemctl start docker) or check that this user may use /var/run/docker.sock."
fi

step "secrets and settings"
prepare_settings

HTTP_PORT=off
if tls_on; then
    export COURSEHUB_TLS=1 SCHEME=https
    HTTP_PORT="$(http_redirect_port)"
    if [ "$HTTP_PORT" = off ]; then
        step "HTTPS on port $PORT with $TLS_DIR/tls.crt; no HTTP redirect (set COURSEHUB_HTTP_PORT for one)"
    else
        [[ "$HTTP_PORT" =~ ^[0-9]+$ ]] && [ "$HTTP_PORT" != "$PORT" ] \
            || fail "COURSEHUB_HTTP_PORT in $COURSEHUB_ENV_FILE must be a port number other than COURSEHUB_PORT ($PORT), or off; not '$HTTP_PORT'"
        step "HTTPS on port $PORT with $TLS_DIR/tls.crt; plain HTTP on port $HTTP_PORT redirects to it"
    fi
else
    export COURSEHUB_TLS=0 SCHEME=http
    step "plain HTTP on port $PORT: put tls.crt and tls.key into $TLS_DIR for HTTPS (docs/operations.md)"
fi

build_images

check_settings

# The ports must be free, unless it is our own proxy that already holds them.
if ! scripts/compose.sh ps -q proxy 2>/dev/null | grep -q .; then
    if port_in_use "$PORT"; then
        fail "port $PORT is already in use. Stop what uses it, or set COURSEHUB_PORT in $COURSEHUB_ENV_FILE."
    fi
    if [ "$HTTP_PORT" != off ] && port_in_use "$HTTP_PORT"; then
        fail "port $HTTP_PORT (the HTTP->HTTPS redirect) is already in use. Stop what uses it, or set COURSEHUB_HTTP_PORT in $COURSEHUB_ENV_FILE (off: no redirect)."
    fi
fi

step "starting proxy, postgres and hub"
if [ "$ENGINE" = podman ]; then
    # The hub waits on healthy postgres and proxy (docker-compose.yml); Podman may not run
    # health checks by itself, so they start first and we run their checks (lib.sh).
    scripts/compose.sh up -d --remove-orphans postgres proxy
    podman_wait_healthy postgres proxy
fi
scripts/compose.sh up -d --remove-orphans

wait_for_hub "$PORT" sh -c "scripts/compose.sh ps; scripts/compose.sh logs --tail 40"
if [ "$ENGINE" = podman ]; then
    podman_wait_healthy hub
    # The hub holds Podman's socket as a bind mount of the file: an API service started anew
    # since the hub started made a new socket, and the hub would no longer reach the engine.
    if ! scripts/compose.sh exec -T hub python3 -c "import docker; docker.from_env().ping()" >/dev/null 2>&1; then
        step "the hub lost Podman's API socket (the service was restarted): restarting the hub"
        scripts/compose.sh restart hub >/dev/null
        wait_for_hub "$PORT" sh -c "scripts/compose.sh logs --tail 40 hub"
    fi
fi
step "coursehub is up in $((SECONDS - started)) s"
MODE=compose scripts/stackctl.sh hub coursehub lti-config --url "$(lms_url)" || true
echo
echo "Next: paste the values above into your LMS; 'make logs$ON_ENGINE' follows the logs, 'make down$ON_ENGINE' stops."
