"""Jupyter server settings shared by every coursehub server."""

import json
import os

c = get_config()  # noqa: F821 - injected by traitlets

# JupyterHub >= 4.1 sends frame-ancestors 'none'; the hub passes the LMS origins allowed to
# frame servers (and 'self', so nbgrader's formgrader panel can frame its own page).
ancestors = os.environ.get("COURSEHUB_FRAME_ANCESTORS", "'self'")
c.ServerApp.tornado_settings = {
    "headers": {"Content-Security-Policy": f"frame-ancestors {ancestors}"},
}
cookie_options = os.environ.get("JUPYTERHUB_COOKIE_OPTIONS")
if cookie_options:
    c.ServerApp.tornado_settings["xsrf_cookie_kwargs"] = json.loads(cookie_options)
c.ServerApp.terminals_enabled = True
