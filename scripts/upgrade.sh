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
scripts/compose.sh stop hub >/dev/null
scripts/compose.sh up -d postgres >/dev/null
scripts/compose.sh run --rm --no-deps -T hub \
    jupyterhub upgrade-db -f /srv/coursehub/jupyterhub_config.py \
    || fail "upgrade-db failed; the hub is stopped. Restore with: make restore FILE=<the backup above>"

step "restarting on the new images"
scripts/up.sh
echo "upgraded to $COURSEHUB_IMAGE_TAG in $((SECONDS - started)) s"
