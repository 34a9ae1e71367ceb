"""Puts the proxy's routes back within seconds after the proxy restarts.

NOTE: configurable-http-proxy keeps its routing table in memory, and JupyterHub re-adds missing
routes only at its periodic check (``last_activity_interval``, 5 min): after a proxy crash,
OOM kill or upgrade every running server and formgrader answered 500 for ~4 minutes (issue
#20: 258 s and 226 s measured). Every ``interval`` seconds this reads the proxy's table (one
GET of CHP's REST API) and, when a route of a ready server or service - or the hub's own - is
missing, runs JupyterHub's own ``Proxy.check_routes`` with it, which adds exactly those.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..core.logline import logline

log = logging.getLogger("JupyterHub").getChild("coursehub.routes")

INTERVAL = 2.0


def expected_routes(app: Any) -> set[str]:
    """The routespecs the proxy must have: the hub's, every ready server's, every service's."""
    specs = {app.hub.routespec}
    for user in app.users.values():
        for spawner in user.spawners.values():
            if spawner.ready:
                specs.add(spawner.proxy_spec)
    for service in app._service_map.values():
        if service.server is not None:
            specs.add(service.proxy_spec)
    return specs


async def check_once(app: Any) -> int:
    """Restores missing routes; returns how many were missing (0: nothing to do)."""
    routes = await app.proxy.get_all_routes()
    missing = expected_routes(app) - set(routes)
    if missing:
        log.warning(logline("routes", action="restore", missing=len(missing), routes=len(routes)))
        await app.proxy.check_routes(app.users, app._service_map, routes)
    return len(missing)


async def watch_routes(app: Any, interval: float = INTERVAL) -> None:
    """Runs check_once every ``interval`` seconds for the life of the hub. A proxy that does not
    answer is logged once per outage; the hub's own requests are never held up by this."""
    started = getattr(app, "_start_future", None)
    if started is not None:
        # Private, but the one signal that JupyterHub's start (and its first route check) is done.
        await started
    proxy_down = False
    while True:
        await asyncio.sleep(interval)
        try:
            await check_once(app)
        except Exception as error:  # noqa: BLE001 - keep watching through any proxy outage
            if not proxy_down:
                log.warning(logline("routes", action="proxy_unreachable", error=str(error)[:200]))
            proxy_down = True
        else:
            if proxy_down:
                log.info(logline("routes", action="proxy_back"))
            proxy_down = False
