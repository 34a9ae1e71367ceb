#!/usr/bin/env bash
# `make down`: removes the stack's containers, including the user servers and graders the
# hub created (they carry the stack's label); volumes and files stay.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ids="$(engine ps -aq --filter "label=coursehub.stack=$STACK")"
if [ -n "$ids" ]; then
    echo "==> removing $(echo "$ids" | wc -l) user and grader containers"
    engine rm -f $ids >/dev/null
fi
scripts/compose.sh down --remove-orphans
echo "Stopped. Data is kept in the volumes $STACK-data and $STACK-pgdata; 'make up$ON_ENGINE' starts again."
