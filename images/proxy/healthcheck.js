// Health of CHP on its public port, over HTTPS when start-proxy enabled it (same test).
const fs = require("fs");
const size = (f) => { try { return fs.statSync(f).size; } catch (e) { return 0; } };
const tls = size("/srv/tls/tls.crt") > 0 && size("/srv/tls/tls.key") > 0;
const client = require(tls ? "https" : "http");
// The certificate names the public host, not 127.0.0.1: this probe checks liveness only.
client.get(`${tls ? "https" : "http"}://127.0.0.1:8000/_chp_healthz`, { rejectUnauthorized: false },
  (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1));
