#!/usr/bin/env bash
# The Makefile's day-to-day targets (logs, ps, a command in the hub) for either mode:
# MODE=compose talks to the compose project, MODE=swarm to the swarm stack's services.
#   scripts/stackctl.sh logs | ps | hub <command...> | container <service>
# `container` prints the id of the service's running container on this host (backup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
MODE="${MODE:-compose}"
action="${1:?usage: stackctl.sh logs|ps|hub COMMAND...|container SERVICE}"
shift

if [ "$MODE" = compose ]; then
    case "$action" in
        logs) exec scripts/compose.sh logs -f --tail 100 ;;
        ps)
            if [ "$ENGINE" = podman ]; then
                # Without systemd Podman runs no health checks by itself (lib.sh
                # podman_wait_healthy): run them now, so the health shown is current.
                for id in $(scripts/compose.sh ps -q); do podman healthcheck run "$id" >/dev/null 2>&1 || true; done
            fi
            exec scripts/compose.sh ps ;;
        hub) exec scripts/compose.sh exec -T hub "$@" ;;
        container) exec scripts/compose.sh ps -q "${1:?which service}" ;;
    esac
fi

[ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ] \
    || fail "this Docker engine is not in a swarm: run this on the swarm manager that runs $STACK"
# A service's running task container on this node (the stack pins hub and postgres to a manager).
task_container() { docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_$1" | head -1; }
case "$action" in
    logs)
        # docker service logs follows one service at a time; run the three side by side.
        trap 'kill 0' EXIT INT TERM
        for service in proxy hub postgres; do
            docker service logs -f --tail 100 "${STACK}_$service" &
        done
        wait ;;
    ps)
        docker stack ps "$STACK" --filter desired-state=running
        docker service ls --filter "label=coursehub.stack=$STACK" ;;
    hub)
        container="$(task_container hub)"
        [ -n "$container" ] || fail "no running hub container of $STACK on this node: make ps MODE=swarm"
        exec docker exec -i "$container" "$@" ;;
    container) task_container "${1:?which service}" ;;
    *) fail "unknown action $action (logs, ps, hub or container)" ;;
esac
