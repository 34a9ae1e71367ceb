#!/usr/bin/env bash
# Creates the real env file and key files on first run, with random secrets (mode 0600).
# Existing files are never overwritten: rerunning is safe.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
umask 077

random_hex() { python3 -c "import secrets; print(secrets.token_hex($1))"; }

if [ ! -e "$ENV_FILE" ]; then
    mkdir -p "$(dirname "$ENV_FILE")"
    python3 - "$ENV_FILE" <<'PY'
import os, secrets, sys
out = []
# A second stack on the same host (the Podman one, scripts/lib.sh) starts on a port of its own.
port = os.environ.get("COURSEHUB_NEW_ENV_PORT")
for line in open("env/coursehub.env.example"):
    if port and line.startswith("COURSEHUB_PORT="):
        line = f"COURSEHUB_PORT={port}\n"
    elif line.startswith("COURSEHUB_LTI11_CONSUMERS="):
        line = f"COURSEHUB_LTI11_CONSUMERS=coursehub-{secrets.token_hex(4)}:{secrets.token_hex(24)}\n"
    elif line.rstrip().endswith("=changeme"):
        line = line.replace("changeme", secrets.token_hex(32))
    out.append(line)
open(sys.argv[1], "w").write("".join(out))
PY
    chmod 600 "$ENV_FILE"
    echo "secrets: wrote $ENV_FILE (random secrets, mode 0600)"
fi

mkdir -p "$SECRETS_DIR"
chmod 700 "$SECRETS_DIR"
for key in lti13_key dev_platform_key; do
    if [ ! -e "$SECRETS_DIR/$key.pem" ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$SECRETS_DIR/$key.pem" 2>/dev/null
        echo "secrets: generated $SECRETS_DIR/$key.pem"
    fi
done
# The hub reads the keys as root; the folder stays private to the host's admin.
chmod 600 "$SECRETS_DIR"/*.pem

if [ ! -e "$SETTINGS_FILE" ]; then
    cp settings.example.yaml "$SETTINGS_FILE"
    echo "settings: wrote $SETTINGS_FILE from settings.example.yaml (edit it for your policy)"
fi
