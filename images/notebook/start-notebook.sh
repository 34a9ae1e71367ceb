#!/bin/bash
# Starts a coursehub server: fetches the launch's assignment when asked, then runs the
# command (jupyterhub-singleuser by default) as PID 1's child under tini.
set -euo pipefail
umask "${COURSEHUB_UMASK:-0022}"
cd "${HOME:-/home/jovyan}"
if [ -n "${COURSEHUB_ASSIGNMENT:-}" ] && [ -n "${NBGRADER_COURSE_ID:-}" ] \
   && [ ! -d "${NBGRADER_COURSE_ID}/${COURSEHUB_ASSIGNMENT}" ]; then
    # A failed fetch (not released yet) must not stop the server; the log says why.
    nbgrader fetch_assignment "$COURSEHUB_ASSIGNMENT" --course "$NBGRADER_COURSE_ID" \
        || echo "coursehub: could not fetch assignment $COURSEHUB_ASSIGNMENT" >&2
fi
exec "$@"
