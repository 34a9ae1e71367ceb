#!/bin/bash
# Initialises the cluster on first start (user, password, database), then runs postgres.
set -euo pipefail
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required (make secrets writes it)}"
USER_NAME="${POSTGRES_USER:-coursehub}"
DB_NAME="${POSTGRES_DB:-jupyterhub}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "postgres: initialising $PGDATA"
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U "$USER_NAME" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    createdb -U "$USER_NAME" "$DB_NAME"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c max_connections=200
