"""Login throughput: LTI 1.1 and LTI 1.3 logins per second and p50/p95 of the login step alone,
sequential and 20 concurrent, against our hub and, in the same run, a bare JupyterHub with the
stock ``ltiauthenticator.lti11.auth.LTI11Authenticator`` / ``lti13.auth.LTI13Authenticator`` as
the baseline.

The baseline is a second hub container from our own coursehub/hub image (same JupyterHub,
same ltiauthenticator) with a ten-line config, its own SQLite file, behind its own CHP
container from coursehub/proxy, on a docker network of its own, published on 127.0.0.1 only:
the same path through CHP that our hub has. Each launch is signed in its worker just before
its clock starts (LTI 1.1 timestamps are valid for 30 s only), so the latencies are the hub's. Every login is a new LMS user (a class's first
launches); a login counts only when the hub's login cookie is set (DESIGN 9).

A third hub, the same bare stock LTI 1.1 config on a database of its own in the bench stack's
Postgres, is measured beside them: JupyterHub's ORM works synchronously on the event loop, so
on Postgres each of its five or six transactions per login is a network round trip where SQLite
is a function call. That row separates what the database costs JupyterHub from what coursehub's
layer (nonce, course, groups, auth_state) costs.

The stock LTI 1.3 hub is registered with our dev platform's identity (issuer, client id, JWKS
as our hub serves it on the bench network, http://hub:8081/hub/coursehub/dev/jwks). For both hubs
this process plays the LMS's part of the flow: it follows the hub's login-initiation redirect
only as far as reading its nonce and state, signs the id_token with the dev platform's key (as an
LMS's authorize endpoint would) and posts it to the hub's callback. So both hubs do the same two
requests of hub work per login, and neither hub's CPU pays for the platform's RSA signing (which
our hub's built-in dev platform would otherwise do for our run only). Stock fetches the JWKS
synchronously on every launch (upstream behaviour, DESIGN 9); ours has it pinned.
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urljoin, urlparse

import requests

from coursehub.core import devplatform
from coursehub.devlms import oidc
from coursehub.devlms.launcher import LaunchSpec, lti11_launch, lti13_login_url
from coursehub.lti.toolkeys import SigningKey

LOGIN_COOKIE = "jupyterhub-hub-login"
SEQUENTIAL = 60
CONCURRENT = 20
CONCURRENT_TOTAL = 200
STOCK_PORT = 18551
STOCK_CONFIG = """\
c = get_config()  # noqa: F821 - the stock baseline: nothing of coursehub
import os
c.JupyterHub.authenticator_class = "ltiauthenticator.lti11.auth.LTI11Authenticator"
c.LTI11Authenticator.consumers = {"stock": os.environ["STOCK_SECRET"]}
c.LTI11Authenticator.username_key = "user_id"
c.Authenticator.allow_all = True  # JupyterHub 5+ admits nobody otherwise (DESIGN 9)
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://stock-hub:8081"
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://stock-proxy:8001"
c.JupyterHub.db_url = os.environ.get("STOCK_DB_URL") or "sqlite:////tmp/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/tmp/cookie_secret"
"""
# The stock LTI 1.3 baseline: the common part of STOCK_CONFIG plus upstream's LTI 1.3 settings.
STOCK13_CONFIG = "\n".join(line for line in STOCK_CONFIG.splitlines()
                           if "LTI11Authenticator" not in line) + """
c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
c.LTI13Authenticator.issuer = os.environ["STOCK_ISSUER"]
c.LTI13Authenticator.client_id = {os.environ["STOCK_CLIENT_ID"]}
c.LTI13Authenticator.jwks_endpoint = os.environ["STOCK_JWKS"]
c.LTI13Authenticator.authorize_url = os.environ["STOCK_AUTHORIZE"]
c.LTI13Authenticator.username_key = "sub"
"""
BENCH_NETWORK_HUB = "http://hub:8081"  # our hub on the bench stack's docker network


@dataclass
class Run:
    """One measured block of logins."""

    ok: int
    failed: int
    seconds: float
    latencies: list[float]
    hub_cpu_ms: float | None = None
    errors: dict | None = None

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @classmethod
    def combined(cls, runs: list["Run"]) -> "Run":
        """Several rounds of one side as one block (CPU per login weighted by logins)."""
        cpu = [r.hub_cpu_ms * (r.ok + r.failed) for r in runs if r.hub_cpu_ms is not None]
        total = sum(r.ok + r.failed for r in runs if r.hub_cpu_ms is not None)
        errors: Counter = Counter()
        for r in runs:
            errors.update(r.errors or {})
        return cls(ok=sum(r.ok for r in runs), failed=sum(r.failed for r in runs),
                   seconds=sum(r.seconds for r in runs), latencies=[t for r in runs for t in r.latencies],
                   hub_cpu_ms=sum(cpu) / total if cpu and total else None, errors=dict(errors))

    def text(self) -> str:
        cpu = f", hub CPU {self.hub_cpu_ms:.1f} ms/login" if self.hub_cpu_ms is not None else ""
        return (f"{self.per_second:6.1f}/s  p50 {self.quantile(0.5):6.1f} ms  p95 {self.quantile(0.95):6.1f} ms"
                f"  ({self.ok} ok, {self.failed} failed{cpu})" + (f" {self.errors}" if self.errors else ""))


def container_cpu_ns(container) -> int:
    return container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"]


def measure(prepared: list, login, concurrency: int, container=None) -> Run:
    """Runs ``login(make()) -> True | reason`` for each ``make`` of ``prepared`` (callables that
    build one request) with ``concurrency`` threads."""
    cpu_before = container_cpu_ns(container) if container is not None else None

    errors: Counter = Counter()

    def timed(make):
        item = make()
        started = time.perf_counter()
        try:
            ok = login(item)
        except requests.RequestException as error:
            ok = type(error).__name__
        if ok is not True:
            errors[ok or "refused"] += 1
        return ok is True, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(timed, prepared))
    seconds = time.perf_counter() - started
    run = Run(ok=sum(ok for ok, _ in results), failed=sum(not ok for ok, _ in results),
              seconds=seconds, latencies=[t for ok, t in results if ok], errors=dict(errors))
    if container is not None and run.ok:
        run.hub_cpu_ms = (container_cpu_ns(container) - cpu_before) / 1e6 / len(prepared)
    return run


# -- LTI 1.1 ------------------------------------------------------------------------------
def signed_lti11(base_url: str, key: str, secret: str, count: int, prefix: str) -> list:
    tag = secrets.token_hex(3)
    return [partial(lti11_launch, base_url, LaunchSpec(user=f"{prefix}{tag}{i}", role="student",
                                                       course="bench101"), key, secret) for i in range(count)]


def lti11_login(item: tuple[str, dict]) -> bool | str:
    url, fields = item
    with requests.Session() as session:
        response = session.post(url, data=fields, allow_redirects=False, timeout=60)
        return response.status_code == 302 and LOGIN_COOKIE in session.cookies or f"HTTP {response.status_code}"


# -- LTI 1.3: initiation (hub) -> the LMS signs the id_token (this process) -> callback (hub)
def lti13_urls(stack, count: int, prefix: str) -> list:
    key = SigningKey.from_file(stack.secrets_dir / devplatform.DEV_KEY_FILENAME)
    tag = secrets.token_hex(3)
    return [partial(lambda spec: (lti13_login_url(stack.url, key, spec), key),
                    LaunchSpec(user=f"{prefix}{tag}{i}", role="student", course="bench101"))
            for i in range(count)]


def lti13_login(item: tuple[str, SigningKey]) -> bool | str:
    """The hub's two requests of an LTI 1.3 login; between them this process is the LMS's
    authorize endpoint (see module docstring), the same for both hubs."""
    url, key = item
    with requests.Session() as session:
        initiation = session.get(url, allow_redirects=False, timeout=60)
        if initiation.status_code != 302:
            return f"initiation HTTP {initiation.status_code}"
        query = {k: v[0] for k, v in parse_qs(urlparse(initiation.headers["Location"]).query).items()}
        message = oidc.read_login_hint(key, query["login_hint"])
        id_token = key.sign(oidc.id_token_claims(message, nonce=query["nonce"]))
        callback = session.post(urljoin(url, query["redirect_uri"]),
                                data={"id_token": id_token, "state": query["state"]},
                                allow_redirects=False, timeout=60)
        return callback.status_code == 302 and LOGIN_COOKIE in session.cookies or f"callback HTTP {callback.status_code}"


# -- the stock baseline -------------------------------------------------------------------
class StockHub:
    """A bare JupyterHub + a stock authenticator behind its own CHP (see module docstring).
    ``env`` goes to the hub container; ``join`` names networks (the bench stack's) that the hub
    and its proxy also join, to reach our hub's dev JWKS / authorize or a test JWKS server."""

    def __init__(self, image_tag: str, name: str = "coursehub-bench-stock", port: int = STOCK_PORT,
                 config: str = STOCK_CONFIG, env: dict | None = None, join: tuple[str, ...] = ()):
        self.tag, self.name, self.port = image_tag, name, port
        self.config, self.env, self.join = config, dict(env or {}), join
        self.secret = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="coursehub-stock-"))

    def _docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=120)

    def __enter__(self) -> "StockHub":
        self.stop()
        token = secrets.token_hex(16)
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(self.config)
        config.chmod(0o644)
        self.workdir.chmod(0o755)
        self._docker("network", "create", self.name)
        self._docker("run", "-d", "--name", f"{self.name}-proxy", "--network", self.name,
                     "--network-alias", "stock-proxy", "-e", f"CONFIGPROXY_AUTH_TOKEN={token}",
                     "-e", "COURSEHUB_HUB_URL=http://stock-hub:8081",
                     "-p", f"127.0.0.1:{self.port}:8000", f"coursehub/proxy:{self.tag}")
        self._docker("run", "-d", "--name", f"{self.name}-hub", "--network", self.name,
                     "--network-alias", "stock-hub", "-e", f"CONFIGPROXY_AUTH_TOKEN={token}",
                     "-e", f"STOCK_SECRET={self.secret}", *(f"--env={k}={v}" for k, v in self.env.items()),
                     "-v", f"{config}:/srv/stock/jupyterhub_config.py:ro",
                     "-w", "/tmp", f"coursehub/hub:{self.tag}",
                     "jupyterhub", "-f", "/srv/stock/jupyterhub_config.py")
        for network in self.join:
            for container in (f"{self.name}-hub", f"{self.name}-proxy"):
                self._docker("network", "connect", network, container)
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{self.url}/hub/health", timeout=3).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                logs = self._docker("logs", "--tail", "40", f"{self.name}-hub", check=False)
                self.stop()
                raise RuntimeError(f"the stock hub did not answer in 90 s:\n{logs.stdout}{logs.stderr}")
            time.sleep(1)

    def container(self):
        import docker

        return docker.from_env().containers.get(f"{self.name}-hub")

    def stop(self) -> None:
        for network in self.join:
            for container in (f"{self.name}-hub", f"{self.name}-proxy"):
                self._docker("network", "disconnect", "-f", network, container, check=False)
        self._docker("rm", "-f", f"{self.name}-hub", f"{self.name}-proxy", check=False)
        self._docker("network", "rm", self.name, check=False)

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- the rows -----------------------------------------------------------------------------
def stock13_env() -> dict:
    """Upstream LTI13Authenticator registered as our dev platform's tool (see module docstring).
    Its authorize URL is never followed: this process answers in the LMS's place."""
    return {
        "STOCK_ISSUER": devplatform.DEV_ISSUER,
        "STOCK_CLIENT_ID": devplatform.DEV_CLIENT_ID,
        "STOCK_JWKS": f"{BENCH_NETWORK_HUB}/hub/{devplatform.JWKS_PATH}",
        "STOCK_AUTHORIZE": "https://coursehub.invalid/dev-platform/authorize",
    }


WARM = 20  # logins that warm each hub before a block is measured, the same for both


def stock_on_postgres(stack) -> dict:
    """Env for a stock hub on a database of its own in the bench stack's Postgres: the same
    bare JupyterHub + LTI11Authenticator, so the row isolates what the database costs JupyterHub
    from what coursehub's layer costs."""
    env = stack.env
    subprocess.run(["docker", "exec", stack.container("postgres").name, "sh", "-c",
                    f'dropdb --if-exists -U "$POSTGRES_USER" stockhub; createdb -U "$POSTGRES_USER" stockhub'],
                   check=True, capture_output=True, timeout=60)
    return {"STOCK_DB_URL": f"postgresql+psycopg2://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/stockhub"}


BLOCKS = (("sequential", 1, SEQUENTIAL), (f"{CONCURRENT} concurrent", CONCURRENT, CONCURRENT_TOTAL))
# Each block runs in ROUNDS alternating rounds (ours, stock, ours, stock, ...): on a shared
# 2-core host the load drifts over a minute, and one long block per side let the drift pick the
# winner (the same code measured 0.67x and 0.91x of stock in two runs).
ROUNDS = 4


def interleaved(sides: list[tuple], concurrency: int, count: int) -> list[Run]:
    """``sides`` = [(make(n, prefix) -> prepared, login, container)]; one combined Run each."""
    per_round = max(1, count // ROUNDS)
    rounds: list[list[Run]] = [[] for _ in sides]
    for index in range(ROUNDS):
        for side, (make, login, container) in enumerate(sides):
            rounds[side].append(measure(make(per_round, f"r{index}s{side}"), login, concurrency, container))
    return [Run.combined(r) for r in rounds]


def rows(bench) -> list[tuple[str, str, str]]:
    """(figure, value, baseline) rows for `make bench`: LTI 1.1 and LTI 1.3, ours vs stock, same
    run. ``bench`` is bench.stack.Bench or a harness.Stack."""
    from coursehub import __version__

    stack = getattr(bench, "stack", bench)
    key, _, secret = stack.env["COURSEHUB_LTI11_CONSUMERS"].split(",")[0].partition(":")
    hub = stack.container("hub")
    tag = stack.env.get("COURSEHUB_IMAGE_TAG") or __version__
    out = []
    with StockHub(tag) as stock, StockHub(tag, name="coursehub-bench-stockpg", port=STOCK_PORT + 1,
                                          env=stock_on_postgres(stack), join=(stack.name,)) as stockpg:
        for label, concurrency, count in BLOCKS:
            # Warm every hub the same way (first requests load templates and code paths).
            measure(signed_lti11(stack.url, key, secret, WARM, "warm"), lti11_login, 1)
            measure(signed_lti11(stock.url, "stock", stock.secret, WARM, "warm"), lti11_login, 1)
            measure(signed_lti11(stockpg.url, "stock", stockpg.secret, WARM, "warm"), lti11_login, 1)
            ours, base, pg = interleaved([
                (partial(signed_lti11, stack.url, key, secret), lti11_login, hub),
                (partial(signed_lti11, stock.url, "stock", stock.secret), lti11_login, stock.container()),
                (partial(signed_lti11, stockpg.url, "stock", stockpg.secret), lti11_login, stockpg.container()),
            ], concurrency, count)
            out.append((f"LTI 1.1 login, {label}", ours.text(), f"stock LTI11Authenticator: {base.text()}"))
            out.append((f"LTI 1.1 login, {label}: stock on our Postgres", pg.text(),
                        f"ours / stock-on-Postgres = {ours.per_second / pg.per_second:.2f}x "
                        f"(ours / stock = {ours.per_second / base.per_second:.2f}x)"))
    with StockHub(tag, config=STOCK13_CONFIG, env=stock13_env(), join=(stack.name,)) as stock:
        stock_hub = stock.container()
        dev = SimpleNamespace(url=stock.url, secrets_dir=stack.secrets_dir)
        for label, concurrency, count in BLOCKS:
            measure(lti13_urls(stack, WARM, "warm"), lti13_login, 1)
            warm = measure(lti13_urls(dev, WARM, "warm"), lti13_login, 1)
            if not warm.ok:
                raise RuntimeError(f"the stock LTI 1.3 hub logs nobody in: {warm.errors}")
            ours, base = interleaved([
                (partial(lti13_urls, stack), lti13_login, hub),
                (partial(lti13_urls, dev), lti13_login, stock_hub),
            ], concurrency, count)
            out.append((f"LTI 1.3 login (2 hub requests), {label}", ours.text(),
                        f"stock LTI13Authenticator: {base.text()}"))
    return out
