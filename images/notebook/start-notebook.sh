#!/bin/bash
# Starts a coursehub server: fetches the launch's assignment when asked, then runs the
# command (jupyterhub-singleuser by default) as PID 1's child under tini.
set -euo pipefail
umask "${COURSEHUB_UMASK:-0022}"
cd "${HOME:-/home/jovyan}"
# The server runs under the uid the hub allocated, which has no passwd entry; nbgrader (and
# getpass) look the user up by uid. nss_wrapper answers as `jovyan`, so nbgrader takes the
# student id from JUPYTERHUB_USER, without making /etc/passwd writable.
if ! id -un >/dev/null 2>&1; then
    passwd_file="$(mktemp /tmp/passwd.XXXXXX)"
    { printf 'jovyan:x:%s:%s:jovyan:%s:/bin/bash\n' "$(id -u)" "$(id -g)" "$HOME"; cat /etc/passwd; } > "$passwd_file"
    export LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$passwd_file" NSS_WRAPPER_GROUP=/etc/group
fi
if [ -n "${COURSEHUB_ASSIGNMENT:-}" ] && [ -n "${NBGRADER_COURSE_ID:-}" ] \
   && [ ! -d "${NBGRADER_COURSE_ID}/${COURSEHUB_ASSIGNMENT}" ]; then
    # A failed fetch (not released yet) must not stop the server; the log says why.
    nbgrader fetch_assignment "$COURSEHUB_ASSIGNMENT" --course "$NBGRADER_COURSE_ID" \
        || echo "coursehub: could not fetch assignment $COURSEHUB_ASSIGNMENT" >&2
fi
exec "$@"
