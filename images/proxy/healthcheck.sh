#!/bin/bash
# Health of CHP: /_chp_healthz on its public port. Over HTTPS (start-proxy enabled it) bash
# cannot speak TLS, so then: the public port accepts, and CHP's own API answers (403 without
# its token), which needs the same Node event loop.
if [ -s /srv/tls/tls.crt ] && [ -s /srv/tls/tls.key ]; then
    (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null || exit 1
    exec http-probe 127.0.0.1 8001 /api/routes 403
fi
exec http-probe 127.0.0.1 8000 /_chp_healthz
