"""The foundation: proxy, hub and Postgres up and healthy; a user server spawned through the
REST API on the stack network, answering through the proxy, surviving a hub restart."""

from __future__ import annotations

import threading
import time

import requests

from harness import wait_until


def test_health_through_the_proxy(stack):
    assert requests.get(f"{stack.url}/hub/health", timeout=5).status_code == 200
    assert requests.get(f"{stack.url}/_chp_healthz", timeout=5).json() == {"status": "OK"}
    info = stack.api("GET", "/").json()
    assert info["version"].startswith("6.")


def test_proxy_api_is_not_published(stack):
    # The proxy's REST API (8001) is for the hub only: the proxy container publishes its public
    # port and nothing else (read from the engine, whatever host port a stack maps it to).
    ports = stack.container("proxy").attrs["NetworkSettings"]["Ports"]
    published = {port for port, bindings in ports.items() if bindings}
    assert published == {"8000/tcp"}, ports
    assert "8001/tcp" not in published


def test_hub_tables_live_in_postgres(stack):
    name = f"pgcheck-{int(time.time() * 1000)}"
    assert stack.api("POST", f"/users/{name}").status_code == 201
    user = stack.env.get("POSTGRES_USER", "coursehub")
    db = stack.env.get("POSTGRES_DB", "jupyterhub")
    out = stack.compose(
        "exec", "-T", "postgres", "psql", "-U", user, "-d", db, "-tAc",
        f"select name from users where name = '{name}'",
    ).stdout
    assert out.strip() == name
    stack.api("DELETE", f"/users/{name}")


def test_services_are_health_checked(stack):
    ps = stack.compose("ps").stdout
    for service in ("proxy", "hub", "postgres"):
        line = next(l for l in ps.splitlines() if f"_{service}_" in l or f"-{service}-" in l)
        assert "healthy" in line, line


def test_server_spawns_answers_and_survives_hub_restart(stack, launched_student):
    user, course = launched_student["user"], launched_student["course"]
    assert stack.api("POST", f"/users/{user}/servers/{course}").status_code in (201, 202)

    def ready():
        model = stack.api("GET", f"/users/{user}").json()
        return model["servers"].get(course, {}).get("ready")

    wait_until(ready, 120, 1, "the server to be ready", logs=lambda: stack.logs("hub"))
    status_url = f"{stack.url}/user/{user}/{course}/api/status"
    headers = {"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"}
    assert requests.get(status_url, headers=headers, timeout=10).status_code == 200

    container = stack.container_of(user, course)
    assert f"{stack.name}" in container.attrs["NetworkSettings"]["Networks"]

    # Restart the hub while hitting the server through the proxy: every request answers.
    failures: list = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                code = requests.get(status_url, headers=headers, timeout=5).status_code
                if code != 200:
                    failures.append(code)
            except requests.RequestException as error:
                failures.append(repr(error))
            time.sleep(0.2)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        stack.compose("restart", "hub", timeout=120)
        wait_until(stack.healthy, 90, 1, "the hub to come back", logs=lambda: stack.logs("hub"))
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert requests.get(status_url, headers=headers, timeout=10).status_code == 200

    assert stack.api("DELETE", f"/users/{user}/servers/{course}").status_code in (202, 204)
    wait_until(lambda: not stack.api("GET", f"/users/{user}").json()["servers"].get(course),
               60, 1, "the server to stop")
    wait_until(lambda: stack.find_container(user, course) is None, 30, 1, "the container to go")
