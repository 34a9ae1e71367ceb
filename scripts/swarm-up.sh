#!/usr/bin/env bash
# `make up MODE=swarm`: the same images, env file and settings as `make up`, deployed with
# `docker stack deploy` (docker-stack.yml) onto the swarm this engine manages. User servers
# and graders then run as swarm services. Idempotent: a second run updates the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
export COURSEHUB_STACK="${COURSEHUB_STACK:-coursehub}"
# docker stack deploy reads no .env file: every path the stack file names is exported, absolute.
for var in COURSEHUB_ENV_FILE:env/coursehub.env COURSEHUB_SETTINGS_FILE:settings.yaml \
           COURSEHUB_SECRETS_DIR:env/secrets COURSEHUB_TLS_DIR:tls \
           COURSEHUB_CONFIG_D:jupyterhub_config.d; do
    name="${var%%:*}"
    export "$name=$(realpath -m "${!name:-${var#*:}}")"
done
. scripts/lib.sh
started=$SECONDS

docker info >/dev/null 2>&1 || fail "no Docker engine answers. Start dockerd (systemctl start docker) or check that this user may use /var/run/docker.sock."
swarm="$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')"
if [ "$swarm" != "active true" ]; then
    fail "this Docker engine is not a swarm manager (swarm state: ${swarm% *}). To make this host a one-node swarm, run: docker swarm init   (add --advertise-addr <this host's address> when it has several), then make up MODE=swarm again. On an existing swarm, run it on a manager node. 'make up' without MODE runs the compose stack instead."
fi

step "secrets and settings"
prepare_settings
if tls_on; then
    export COURSEHUB_TLS=1 SCHEME=https
    step "HTTPS on port $PORT with $TLS_DIR/tls.crt (plain HTTP on that port will not answer)"
else
    export COURSEHUB_TLS=0 SCHEME=http
    step "plain HTTP on port $PORT: put tls.crt and tls.key into $TLS_DIR for HTTPS (docs/operations.md)"
fi
mkdir -p "$COURSEHUB_TLS_DIR" "$COURSEHUB_CONFIG_D"

build_images "every node needs them, see docs/operations.md"
check_settings

if [ -z "$(docker service ls -q --filter "name=${STACK}_proxy")" ] \
   && port_in_use "$PORT"; then
    fail "port $PORT is already in use. Stop what uses it, or set COURSEHUB_PORT in $ENV_FILE."
fi

step "deploying stack $STACK (proxy, postgres, hub) onto the swarm"
# Swarm configs and secrets are immutable: they are named by a hash of their content, so an
# edited settings.yaml or key becomes a new one and the hub is rolled onto it.
digest() { sha256sum "$1" | cut -c1-12; }
COURSEHUB_SETTINGS_HASH="$(digest "$SETTINGS_FILE")"
COURSEHUB_LTI13_KEY_HASH="$(digest "$SECRETS_DIR/lti13_key.pem")"
COURSEHUB_DEV_KEY_HASH="$(digest "$SECRETS_DIR/dev_platform_key.pem")"
COURSEHUB_CONFIG_HASH="$(config_hash)"
export COURSEHUB_SETTINGS_HASH COURSEHUB_LTI13_KEY_HASH COURSEHUB_DEV_KEY_HASH COURSEHUB_CONFIG_HASH
# The tag stays while `make build` replaces an image: its id tells swarm that it changed.
for image in proxy hub postgres; do
    export "COURSEHUB_${image^^}_IMAGE_ID=$(docker image inspect -f '{{.Id}}' "coursehub/$image:$COURSEHUB_IMAGE_TAG" | cut -c8-19)"
done
# Local images, no registry: never ask one for a digest (every node must hold the images).
docker stack deploy --resolve-image never --prune -c docker-stack.yml "$STACK"

# `stack deploy` returns at once; until every service runs its new spec, the old hub would
# answer the health check below.
step "waiting for every service of $STACK to run its current spec"
rolled_out() {
    [ -z "$(docker service ls -q --filter "label=com.docker.stack.namespace=$STACK" \
            | xargs -r docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' \
            | grep -E 'updating|paused|rollback')" ] \
    && [ -z "$(docker stack ps "$STACK" --filter desired-state=running --format '{{.CurrentState}}' | grep -v '^Running')" ]
}
deadline=$((SECONDS + ${COURSEHUB_UP_TIMEOUT:-180}))
until rolled_out; do
    [ $SECONDS -lt $deadline ] || { docker stack ps --no-trunc "$STACK"; fail "the services of $STACK did not start in time; the tasks above say why"; }
    sleep 2
done
wait_for_hub "$PORT" sh -c "docker stack ps --no-trunc '$STACK'; docker service logs --tail 40 '${STACK}_hub'"
step "coursehub is up on the swarm in $((SECONDS - started)) s"
MODE=swarm scripts/stackctl.sh hub coursehub lti-config --url "$(lms_url)" || true
echo
echo "Next: paste the values above into your LMS; 'docker service logs -f ${STACK}_hub' follows the hub, 'make down MODE=swarm' stops."
