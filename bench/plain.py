"""The baseline: stock `dockerspawner.DockerSpawner` behind its own hub and proxy, from the same
coursehub/hub and coursehub/proxy images, on the bench stack's network, spawning the same
student image with no coursehub policy (no LTI, no plan, no uid, no mounts, no limits).

Login is JupyterHub's DummyAuthenticator form (GET the page for its _xsrf cookie, POST it with
next=/hub/spawn/<user>); the database is SQLite in the container. Both hubs run side by side,
so each coursehub run and each baseline run see the same host load.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import docker
import requests

from .stack import STUDENT_IMAGE, VERSION, harness, follow_hub, progress, status_ok, wait_until

PREFIX = "coursehub-bench-plain"
HUB = f"{PREFIX}-hub"
PROXY = f"{PREFIX}-proxy"
PORT = 18251

CONFIG = '''\
# Baseline hub of `make bench`: stock DockerSpawner, no coursehub code.
c = get_config()  # noqa: F821
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = {image!r}
c.DockerSpawner.network_name = {network!r}
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True
c.DockerSpawner.prefix = {prefix!r}
c.DockerSpawner.pull_policy = "never"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_connect_ip = {hub!r}
c.JupyterHub.db_url = "sqlite:////tmp/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/tmp/jupyterhub_cookie_secret"
c.JupyterHub.cleanup_servers = True
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://{proxy}:8001"
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.JupyterHub.services = [{{"name": "bench", "api_token": {api_token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "bench", "services": ["bench"],
    "scopes": ["admin:users", "admin:servers", "access:servers"],
}}]
'''


@dataclass
class PlainHub:
    url: str
    token: str
    password: str
    work: object

    @classmethod
    def start(cls, stack) -> "PlainHub":
        client = docker.from_env()
        cls._remove(client)
        work = harness.WORK / "plain"
        work.mkdir(parents=True, exist_ok=True)
        proxy_token, api_token, password = (secrets.token_hex(32) for _ in range(3))
        (work / "jupyterhub_config.py").write_text(CONFIG.format(
            password=password, image=STUDENT_IMAGE, network=stack.name, prefix=PREFIX, hub=HUB,
            proxy=PROXY, proxy_token=proxy_token, api_token=api_token,
        ))
        labels = {"coursehub.bench": "plain"}
        progress(f"starting the baseline hub {HUB} and proxy on 127.0.0.1:{PORT}")
        client.containers.run(
            f"coursehub/proxy:{VERSION}", name=PROXY, detach=True, network=stack.name, labels=labels,
            environment={"CONFIGPROXY_AUTH_TOKEN": proxy_token,
                         "COURSEHUB_HUB_URL": f"http://{HUB}:8081"},
            ports={"8000/tcp": ("127.0.0.1", PORT)},
        )
        client.containers.run(
            f"coursehub/hub:{VERSION}", ["jupyterhub", "-f", "/srv/bench/jupyterhub_config.py"],
            name=HUB, detach=True, network=stack.name, labels=labels, working_dir="/tmp",
            volumes={
                "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(work / "jupyterhub_config.py"): {"bind": "/srv/bench/jupyterhub_config.py", "mode": "ro"},
            },
        )
        hub = cls(f"http://127.0.0.1:{PORT}", api_token, password, work)
        wait_until(hub.healthy, 90, "the baseline hub to answer through its proxy", interval=0.5)
        return hub

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/hub/health", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def api(self, method: str, path: str) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}",
                                headers={"Authorization": f"token {self.token}"}, timeout=30)

    def launch_seconds(self, user: str) -> float:
        """Login form -> spawn -> the server's /api/status answering 200 through the proxy."""
        started = time.perf_counter()
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=30)
        xsrf = session.cookies.get("_xsrf", "")
        response = session.post(
            f"{self.url}/hub/login?next=/hub/spawn/{user}",
            data={"username": user, "password": self.password, "_xsrf": xsrf},
            allow_redirects=False, timeout=60,
        )
        follow_hub(session, response)
        wait_until(lambda: status_ok(self.url, f"/user/{user}/", self.token), 120,
                   f"the baseline server of {user}")
        return time.perf_counter() - started

    def stop_server(self, user: str) -> None:
        self.api("DELETE", f"/users/{user}/server")
        wait_until(lambda: not self.api("GET", f"/users/{user}").json().get("servers"), 60,
                   f"the baseline server of {user} to stop", interval=0.5)

    def container(self, user: str):
        found = docker.from_env().containers.list(filters={"name": f"{PREFIX}-{user}"})
        return found[0] if found else None

    def stop(self) -> None:
        self._remove(docker.from_env())

    @staticmethod
    def _remove(client) -> None:
        """Removes this baseline's hub, proxy and every server it spawned (all named PREFIX-)."""
        for container in client.containers.list(all=True, filters={"name": PREFIX}):
            if container.name.startswith(f"{PREFIX}-"):
                container.remove(force=True)

