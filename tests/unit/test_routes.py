"""The route watch (coursehub.tasks.routes) against a stand-in for configurable-http-proxy's
REST API (a process boundary): what it reads, when it restores, and that it stays quiet."""

import asyncio
from types import SimpleNamespace

from coursehub.tasks import routes


class FakeProxy:
    def __init__(self, table):
        self.table = dict(table)
        self.checks = 0

    async def get_all_routes(self):
        return dict(self.table)

    async def check_routes(self, users, services, table):
        self.checks += 1
        self.table.update({spec: {} for spec in routes.expected_routes(APP)})


def spawner(spec, ready=True):
    return SimpleNamespace(ready=ready, proxy_spec=spec)


APP = SimpleNamespace(
    hub=SimpleNamespace(routespec="/"),
    users={"a": SimpleNamespace(spawners={"c1": spawner("/user/a/c1/"), "c2": spawner("/user/a/c2/", False)})},
    _service_map={"c1": SimpleNamespace(server=object(), proxy_spec="/services/c1/"),
                  "coursehub": SimpleNamespace(server=None, proxy_spec="")},
)


def test_expected_routes_are_the_hub_ready_servers_and_services():
    assert routes.expected_routes(APP) == {"/", "/user/a/c1/", "/services/c1/"}


def test_a_complete_table_costs_one_read_and_nothing_else():
    APP.proxy = FakeProxy({"/": {}, "/user/a/c1/": {}, "/services/c1/": {}})
    assert asyncio.run(routes.check_once(APP)) == 0
    assert APP.proxy.checks == 0


def test_a_restarted_proxy_gets_every_route_back(caplog):
    APP.proxy = FakeProxy({})  # CHP after a restart: an empty table
    assert asyncio.run(routes.check_once(APP)) == 3
    assert APP.proxy.checks == 1
    assert "coursehub.routes action=restore missing=3" in caplog.text
    assert asyncio.run(routes.check_once(APP)) == 0
