#!/usr/bin/env bash
# `make clean`: the only command that deletes data, and only after the admin types the name.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
echo "This deletes the volumes $STACK-data (homes, courses, exchange) and $STACK-pgdata (database)."
read -r -p "Type '$STACK' to delete them: " answer
[ "$answer" = "$STACK" ] || { echo "Nothing deleted."; exit 1; }
scripts/down.sh
engine volume rm "$STACK-data" "$STACK-pgdata" 2>/dev/null || true
echo "Deleted. $ENV_FILE, settings.yaml and env/secrets/ are kept."
