#!/usr/bin/env bash
# `make restore FILE=backups/coursehub-<time>.tar.gz`: brings a backup (scripts/backup.sh)
# back, on this host or a fresh one. It REPLACES the stack's data: the stack goes down, the
# volumes <stack>-data and <stack>-pgdata are deleted and recreated, the files and the database
# come back from the archive, and the stack starts again. Env file, settings and secrets come
# from the archive too (the database needs its crypt key and password); files they replace are
# kept beside them as *.before-restore-<time>.
# Asks first; FORCE=1 skips the question (tests, scripts). MODE=swarm restores the swarm stack
# (on the manager that holds its volumes) from a backup of either mode.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
started=$SECONDS
MODE="${MODE:-compose}"
case "$MODE" in
    compose) down=scripts/down.sh up=scripts/up.sh ;;
    swarm) down=scripts/swarm-down.sh up=scripts/swarm-up.sh ;;
    *) fail "MODE must be compose or swarm, not '$MODE'" ;;
esac

FILE="${1:-}"
[ -n "$FILE" ] && [ -f "$FILE" ] || fail "usage: make restore FILE=backups/coursehub-<time>.tar.gz"
umask 077
work="$(mktemp -d "${TMPDIR:-/tmp}/coursehub-restore.XXXXXX")"
db="$STACK-restore-postgres"
trap 'engine rm -f "$db" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

step "checking $FILE"
tar -C "$work" -xzf "$FILE"
[ -s "$work/postgres.sql" ] && [ -f "$work/data.tar" ] && [ -s "$work/config/coursehub.env" ] \
    || fail "$FILE is not a coursehub backup (postgres.sql, data.tar or config/ missing)"
(cd "$work" && sed -n '/  /p' MANIFEST | sha256sum -c --quiet) || fail "checksums in $FILE do not match"
sed -n 's/^\(created_utc\|stack\|version\)=/    \1: /p' "$work/MANIFEST"

if [ "${FORCE:-0}" != 1 ]; then
    echo "This DELETES the current volumes $STACK-data and $STACK-pgdata and replaces them with the backup."
    read -r -p "Type '$STACK' to restore: " answer
    [ "$answer" = "$STACK" ] || { echo "Nothing changed."; exit 1; }
fi

step "config: $ENV_FILE, $SETTINGS_FILE, $SECRETS_DIR, $TLS_DIR"
keep() { # path: set aside a file or folder that the backup's copy replaces
    if [ -e "$1" ]; then mv "$1" "$1.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"; fi
}
mkdir -p "$(dirname "$ENV_FILE")"
if ! cmp -s "$work/config/coursehub.env" "$ENV_FILE"; then keep "$ENV_FILE"; cp -p "$work/config/coursehub.env" "$ENV_FILE"; fi
if [ -f "$work/config/settings.yaml" ] && ! cmp -s "$work/config/settings.yaml" "$SETTINGS_FILE"; then
    keep "$SETTINGS_FILE"; cp -p "$work/config/settings.yaml" "$SETTINGS_FILE"
fi
if [ -d "$work/config/secrets" ] && ! diff -rq "$work/config/secrets" "$SECRETS_DIR" >/dev/null 2>&1; then
    keep "$SECRETS_DIR"; cp -rp "$work/config/secrets" "$SECRETS_DIR"
fi
mkdir -p "$TLS_DIR"
for f in "$work"/config/tls/tls.*; do
    [ -e "$f" ] || continue
    if ! cmp -s "$f" "$TLS_DIR/$(basename "$f")"; then keep "$TLS_DIR/$(basename "$f")"; cp -p "$f" "$TLS_DIR/"; fi
done
# As compose resolves them for the stack that starts on this database afterwards.
POSTGRES_USER="$(setting POSTGRES_USER)"; POSTGRES_USER="${POSTGRES_USER:-coursehub}"
POSTGRES_DB="$(setting POSTGRES_DB)"; POSTGRES_DB="${POSTGRES_DB:-jupyterhub}"

# On a fresh host nothing is built yet; on this one it is a cached no-op.
step "images"
scripts/build-images.sh >/dev/null

step "stopping $STACK ($MODE) and recreating its volumes"
$down >/dev/null
for volume in data pgdata; do
    engine volume rm "$STACK-$volume" >/dev/null 2>&1 || true
    engine volume create --label "com.docker.compose.project=$STACK" \
        --label "com.docker.compose.volume=$volume" "$STACK-$volume" >/dev/null
done

step "files into $STACK-data"
engine run --rm --network none --user 0 -v "$STACK-data:/data" -v "$work:/in:ro" \
    --entrypoint tar "$HELPER_IMAGE" --numeric-owner -xpf /in/data.tar -C /data

# The database comes back in a throwaway Postgres on the new volume, without a network, the
# same way for both modes; the stack starts on it afterwards.
step "database"
printf 'POSTGRES_USER=%s\nPOSTGRES_DB=%s\nPOSTGRES_PASSWORD=%s\n' \
    "$POSTGRES_USER" "$POSTGRES_DB" "$(setting POSTGRES_PASSWORD)" > "$work/postgres.env"
engine rm -f "$db" >/dev/null 2>&1 || true
engine run -d --no-healthcheck --name "$db" --network none --env-file "$work/postgres.env" \
    -v "$STACK-pgdata:/var/lib/postgresql/data" "coursehub/postgres:$COURSEHUB_IMAGE_TAG" >/dev/null
deadline=$((SECONDS + 120))
until engine exec "$db" pg_isready -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -q 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "postgres did not become ready: $ENGINE logs $db"
    sleep 1
done
# The fresh cluster already has the hub database (empty) and our role: drop the database so
# the dump recreates it with its contents; the role's "already exists" is the one error expected.
engine exec "$db" dropdb -U "$POSTGRES_USER" --if-exists "$POSTGRES_DB"
engine exec -i "$db" psql -q -U "$POSTGRES_USER" -d postgres -f - \
    < "$work/postgres.sql" > "$work/psql.out" 2> "$work/psql.err" || true
if grep -v "role \"$POSTGRES_USER\" already exists" "$work/psql.err" | grep -q ERROR; then
    cat "$work/psql.err" >&2
    fail "the database restore reported errors (above)"
fi
engine exec "$db" pg_ctl -D /var/lib/postgresql/data -m fast -w stop >/dev/null 2>&1 || true
engine rm -f "$db" >/dev/null

step "starting $STACK ($MODE)"
COURSEHUB_IMAGES_BUILT=1 $up
echo "restored $FILE in $((SECONDS - started)) s"
