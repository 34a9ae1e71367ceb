#!/bin/sh
# Starts CHP on the public port; HTTPS when a certificate and key are mounted, and then, when
# compose asks for it (docker-compose.redirect.yml), a plain HTTP port redirecting to HTTPS.
set -eu
: "${CONFIGPROXY_AUTH_TOKEN:?CONFIGPROXY_AUTH_TOKEN is required (make secrets writes it)}"
HUB="${COURSEHUB_HUB_URL:-http://hub:8081}"
set -- --ip 0.0.0.0 --port 8000 --api-ip 0.0.0.0 --api-port 8001 \
    --default-target "$HUB" --error-target "$HUB/hub/error" "$@"
if [ -s /srv/tls/tls.crt ] && [ -s /srv/tls/tls.key ]; then
    echo "proxy: HTTPS on 8000 with /srv/tls/tls.crt"
    set -- "$@" --ssl-cert /srv/tls/tls.crt --ssl-key /srv/tls/tls.key
    if [ -n "${COURSEHUB_REDIRECT_TO:-}" ]; then
        # CHP answers plain HTTP on 8080 with 301 to https://<the request's host>:<port><path>.
        # NOTE: CHP 4.5.3 compares --redirect-to (a string) with 443, so https://host:443/ it is.
        echo "proxy: plain HTTP on 8080 redirects to HTTPS on public port $COURSEHUB_REDIRECT_TO"
        set -- "$@" --redirect-port 8080 --redirect-to "$COURSEHUB_REDIRECT_TO"
    fi
else
    echo "proxy: plain HTTP on 8000 (put tls.crt and tls.key in the tls/ folder for HTTPS)"
fi
exec configurable-http-proxy "$@"
