#!/usr/bin/env bash
# Re-resolves the pinned requirements of the hub and notebook images inside the python image
# itself (Debian's Python 3.11.2), so every pin installs there. Run after changing a top-level
# version below; review the diff; commit.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${COURSEHUB_IMAGE_TAG:-$(cat VERSION)}"
lock() { # file, header, requirements...
    local file="$1" header="$2"; shift 2
    docker run --rm --network host "coursehub/python:$TAG" sh -c \
        "pip install -q --dry-run --ignore-installed --report /dev/stdout $* 2>/dev/null" \
    | python3 -c '
import json, sys
report = json.load(sys.stdin)
pins = sorted(("{name}=={version}".format(**i["metadata"]) for i in report["install"]), key=str.lower)
print(sys.argv[1], *pins, sep="\n")' "$header" > "$file"
    echo "locked $file ($(grep -vc '^#' "$file") packages)"
}
lock images/hub/requirements.txt "# Hub image pins, made by scripts/lock-requirements.sh inside coursehub/python." \
    jupyterhub==6.1.1 dockerspawner==14.0.0 jupyterhub-ltiauthenticator==1.6.3 \
    jupyterhub-idle-culler==2.0.0 psycopg2-binary "'pyjwt[crypto]'" pyyaml docker==7.2.0 oauthlib

lock images/notebook/requirements.txt "# Notebook image pins, made by scripts/lock-requirements.sh inside coursehub/python." \
    jupyterhub==6.1.1 nbgrader==0.9.6 "'jupyterlab>=4.2,<5'" "'notebook>=7.2,<8'" psycopg2-binary
