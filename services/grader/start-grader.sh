#!/bin/bash
# Starts a course's formgrader service: makes sure the gradebook has nbgrader's schema (so the
# hub can add students to the roster before anyone opened the formgrader), then runs
# jupyterhub-singleuser as an external JupyterHub service (env set by coursehub.core.graderplan).
set -euo pipefail
: "${NBGRADER_DB_URL:?}" "${NBGRADER_COURSE_ID:?}"
python3 - <<'PY'
import os
from nbgrader.api import Gradebook

# Gradebook() creates missing tables, stamps the schema version and adds the course row.
Gradebook(os.environ["NBGRADER_DB_URL"], os.environ["NBGRADER_COURSE_ID"]).close()
PY
exec jupyterhub-singleuser "$@"
