#!/usr/bin/env bash
# The Makefile's day-to-day targets (logs, ps, a command in the hub) for either mode:
# MODE=compose talks to the compose project, MODE=swarm to the swarm stack's services.
#   scripts/stackctl.sh logs | ps | hub <command...>
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
MODE="${MODE:-compose}"
action="${1:?usage: stackctl.sh logs|ps|hub COMMAND...}"
shift

if [ "$MODE" = compose ]; then
    case "$action" in
        logs) exec scripts/compose.sh logs -f --tail 100 ;;
        ps) exec scripts/compose.sh ps ;;
        hub) exec scripts/compose.sh exec -T hub "$@" ;;
    esac
fi

[ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ] \
    || fail "this Docker engine is not in a swarm: run this on the swarm manager that runs $STACK"
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
        # The hub's running task container on this node (the stack pins the hub to a manager).
        container="$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_hub" | head -1)"
        [ -n "$container" ] || fail "no running hub container of $STACK on this node: make ps MODE=swarm"
        exec docker exec -i "$container" "$@" ;;
    *) fail "unknown action $action (logs, ps or hub)" ;;
esac
