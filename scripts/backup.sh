#!/usr/bin/env bash
# `make backup`: one archive backups/coursehub-<UTC time>.tar.gz holding everything needed to
# bring this coursehub back on a fresh host (scripts/restore.sh):
#   postgres.sql   pg_dumpall of the cluster: hub database and every course gradebook
#   data.tar       the data volume (homes, courses, exchange, graders, volumes) with numeric
#                  owners, modes and setgid bits, made through a throwaway container
#   config/        env file, settings file, secrets folder and the TLS certificate and key
#                  (the archive is mode 0600)
# The stack keeps running; servers writing during the backup may leave their newest edits out.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
OUT_DIR="${COURSEHUB_BACKUP_DIR:-backups}"
started=$SECONDS
umask 077

[ -e "$ENV_FILE" ] || fail "$ENV_FILE is missing: nothing to back up here (make up$ON_ENGINE first)"
POSTGRES_USER="$(setting POSTGRES_USER)"; POSTGRES_USER="${POSTGRES_USER:-coursehub}"
engine volume inspect "$STACK-data" >/dev/null 2>&1 || fail "no volume $STACK-data"
# MODE=swarm: the same archive from the swarm stack, run on the manager that holds its volumes
# (docker-stack.yml pins postgres and the hub there); `make restore` of either mode reads it.
MODE="${MODE:-compose}"
postgres="$(MODE=$MODE scripts/stackctl.sh container postgres 2>/dev/null || true)"
up="make up"; [ "$MODE" = swarm ] && up="make up MODE=swarm"
[ -n "$postgres" ] \
    || fail "postgres of $STACK ($MODE) is not running on this host: '$up' first (the dump needs it)"

mkdir -p "$OUT_DIR"
work="$(mktemp -d "$OUT_DIR/.backup.XXXXXX")"
trap 'rm -rf "$work"' EXIT
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
archive="$OUT_DIR/coursehub-$stamp.tar.gz"

step "database: pg_dumpall (hub database and course gradebooks)"
engine exec -i "$postgres" pg_dumpall -U "$POSTGRES_USER" > "$work/postgres.sql" \
    || fail "pg_dumpall failed"
echo "    $(du -h "$work/postgres.sql" | cut -f1)"

step "files: volume $STACK-data (numeric owners, modes, setgid bits)"
# tar exits 1 when a file changed while it was read (a running server): still a usable copy.
rc=0
engine run --rm --network none --user 0 -v "$STACK-data:/data:ro" -v "$(realpath "$work"):/out" \
    --entrypoint tar "$HELPER_IMAGE" --numeric-owner -cpf /out/data.tar -C /data . || rc=$?
[ "$rc" -le 1 ] || fail "tar of $STACK-data failed (exit $rc)"
echo "    $(du -h "$work/data.tar" | cut -f1)"

step "config: $ENV_FILE, $SETTINGS_FILE, $SECRETS_DIR"
mkdir -p "$work/config"
cp -p "$ENV_FILE" "$work/config/coursehub.env"
[ -e "$SETTINGS_FILE" ] && cp -p "$SETTINGS_FILE" "$work/config/settings.yaml"
[ -d "$SECRETS_DIR" ] && cp -rp "$SECRETS_DIR" "$work/config/secrets"
if [ -s "$TLS_DIR/tls.crt" ]; then mkdir "$work/config/tls"; cp -p "$TLS_DIR"/tls.* "$work/config/tls/"; fi
cat > "$work/MANIFEST" <<EOF
coursehub backup
created_utc=$stamp
stack=$STACK
mode=$MODE
engine=$ENGINE
version=$(cat VERSION)
image_tag=$COURSEHUB_IMAGE_TAG
EOF
(cd "$work" && sha256sum postgres.sql data.tar >> MANIFEST)

step "archive"
tar -C "$work" -czf "$archive.part" MANIFEST postgres.sql data.tar config
chmod 600 "$archive.part"
mv "$archive.part" "$archive"
echo "wrote $archive ($(du -h "$archive" | cut -f1), mode 0600) in $((SECONDS - started)) s"
echo "It contains SECRETS (crypt key, database password, LTI secrets and keys): store it like a password."
echo "Next: copy it off this host; 'make restore$ON_ENGINE FILE=$archive' brings it back."
