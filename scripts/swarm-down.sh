#!/usr/bin/env bash
# `make down MODE=swarm`: removes the user-server and grader services the hub created (they
# carry the stack's label), then the stack; waits until its containers and network are gone.
# Volumes, configs on disk and the swarm itself stay.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

[ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" = true ] \
    || fail "this Docker engine is not a swarm manager: run make down MODE=swarm on the manager that runs the stack"
services="$(docker service ls -q --filter "label=coursehub.stack=$STACK")"
if [ -n "$services" ]; then
    step "removing $(echo "$services" | wc -l) user-server and grader services"
    docker service rm $services >/dev/null
fi
step "removing stack $STACK"
docker stack rm "$STACK"
# Swarm removes containers and the network a moment after `stack rm` returns; a `make up`
# or a `docker volume rm` right after would trip over them.
deadline=$((SECONDS + 90))
while [ -n "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK"; docker ps -aq --filter "label=coursehub.stack=$STACK")" ] \
      || docker network inspect "$STACK" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "containers or the network of $STACK are still there after 90 s: docker ps -a; docker network inspect $STACK"
    sleep 1
done
echo "Stopped. Data is kept in the volumes $STACK-data and $STACK-pgdata; 'make up MODE=swarm' starts again."
