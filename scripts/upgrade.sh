#!/usr/bin/env bash
# `make upgrade`: after pulling a new coursehub release (git pull), moves the running stack onto
# it keeping all data: a backup first, the images rebuilt, the hub database schema upgraded by
# `jupyterhub upgrade-db` in a one-shot hub container against Postgres, then the stack restarted.
# Running servers keep their old image until they stop; their next launch uses the new plan.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
started=$SECONDS

step "backup before anything changes"
scripts/backup.sh || fail "the backup failed, so nothing was upgraded"

step "images for coursehub $COURSEHUB_IMAGE_TAG"
scripts/build-images.sh

step "hub database schema (jupyterhub upgrade-db)"
db_user="$(setting POSTGRES_USER)" db_name="$(setting POSTGRES_DB)"
schema() { # the hub database's alembic revision
    scripts/compose.sh exec -T postgres psql -U "${db_user:-coursehub}" -d "${db_name:-jupyterhub}" \
        -tAc "SELECT version_num FROM alembic_version" 2>/dev/null || echo unknown
}
scripts/compose.sh stop hub >/dev/null
scripts/compose.sh up -d postgres >/dev/null
before="$(schema)"
scripts/compose.sh run --rm --no-deps -T hub \
    jupyterhub upgrade-db -f /srv/coursehub/jupyterhub_config.py \
    || fail "upgrade-db failed; the hub is stopped. Restore with: make restore FILE=<the backup above>"
after="$(schema)"
if [ "$before" = "$after" ]; then echo "    schema $after: already current"; else echo "    schema $before -> $after"; fi

step "restarting on the new images"
COURSEHUB_IMAGES_BUILT=1 scripts/up.sh
echo "upgraded to $COURSEHUB_IMAGE_TAG in $((SECONDS - started)) s"
