"""Hub API latency while one LMS's JWKS endpoint answers slowly (DESIGN 9: stock ltiauthenticator
fetches the platform's JWKS synchronously, on the hub's event loop, on every LTI 1.3 launch; ours
fetches it in a worker thread with a timeout, so a slow LMS delays only its own launches).

A tiny JWKS server (coursehub/python, on the bench stack's docker network as ``jwks-slow``)
answers every request after SLOW_SECONDS: longer than our fetch timeout (5 s), shorter than
PyJWKClient's default (30 s), so stock waits it out and then logs the user in. It serves the
public key of a platform this row makes up; the bench process plays that platform's authorize
endpoint (it reads nonce and state from the hub's redirect, signs the id_token and posts it to
the callback the hub named), so every launch really reaches the JWKS lookup.

Ours: the platform is added to the bench stack's settings file (lti13.platforms, what an admin
writes) and the hub restarted; both are undone at the end. Stock: a bare JupyterHub with
upstream LTI13Authenticator registered with the same platform (bench.login.StockHub).

Each side: GET /hub/api/ from the bench client 5 times a second for IDLE_SECONDS with nothing
else going on, then for LOAD_SECONDS while LAUNCHERS workers each start an LTI 1.3 launch for
the slow platform at most once a second (a class clicking launch); p50/p95/max of the probes.
Probes are open loop (one stalled answer does not delay the next probe's start). Every
wait is bounded; a probe that times out counts at its timeout.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from collections import Counter
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import requests

from coursehub.devlms import oidc as devplatform
from coursehub.devlms.launcher import LaunchSpec, lti13_message_claims
from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem

from .login import LOGIN_COOKIE, STOCK13_CONFIG, STOCK_PORT, StockHub
from .stack import progress, wait_until

SLOW_SECONDS = 8
LAUNCHERS = 10
IDLE_SECONDS = 10
LOAD_SECONDS = 20
PROBE_INTERVAL = 0.2
PROBE_TIMEOUT = 120
LAUNCH_TIMEOUT = 120
DRAIN_SECONDS = LAUNCHERS * SLOW_SECONDS + 40  # stock serves the in-flight launches one by one
ISSUER = "https://slow-lms.invalid/platform"
CLIENT_ID = "bench-slow"
DEPLOYMENT_ID = "1"
SERVER_ALIAS = "jwks-slow"
JWKS_URL = f"http://{SERVER_ALIAS}:8000/jwks"
AUTHORIZE_URL = "https://slow-lms.invalid/authorize"  # never followed: the bench answers it
# A second platform whose JWKS answers like an LMS across the internet does (not stalled, just
# far): login throughput with and without key caching.
REMOTE_SECONDS = 0.1
REMOTE_ISSUER = "https://remote-lms.invalid/platform"
REMOTE_ALIAS = "jwks-remote"
REMOTE_JWKS_URL = f"http://{REMOTE_ALIAS}:8000/jwks"
REMOTE_LOGINS = 100
REMOTE_CONCURRENCY = 20

SLOW_SERVER = """\
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = os.environ["JWKS"].encode()
DELAY = float(os.environ["DELAY"])
class Slow(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("0.0.0.0", 8000), Slow).serve_forever()
"""


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=120)


@contextmanager
def slow_jwks_server(stack, key: SigningKey, tag: str, alias: str = SERVER_ALIAS, delay: float = SLOW_SECONDS):
    name = f"{stack.name}-{alias}"
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--name", name, "--network", stack.name, "--network-alias", alias,
           "--env", f"JWKS={json.dumps(key.jwks)}", "--env", f"DELAY={delay}",
           f"coursehub/python:{tag}", "python3", "-c", SLOW_SERVER)
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def restart_hub(stack) -> None:
    stack.compose("restart", "hub", timeout=180)
    time.sleep(2)  # the old process may still answer for a moment
    wait_until(stack.healthy, 120, "the hub after a settings change", interval=0.5)


@contextmanager
def slow_platform_registered(stack):
    """lti13.platforms += the slow platform, in the stack's settings file (written in place: the
    hub bind-mounts the file), hub restarted; the original file and hub come back at the end."""
    import yaml

    original = stack.settings_file.read_text()
    settings = yaml.safe_load(original)
    settings["lti13"]["platforms"] = list(settings["lti13"].get("platforms") or []) + [{
        "name": "bench slow LMS", "issuer": ISSUER, "client_ids": [CLIENT_ID],
        "deployment_ids": [DEPLOYMENT_ID], "authorize_url": AUTHORIZE_URL, "jwks_url": JWKS_URL,
    }, {
        "name": "bench remote LMS", "issuer": REMOTE_ISSUER, "client_ids": [CLIENT_ID],
        "deployment_ids": [DEPLOYMENT_ID], "authorize_url": AUTHORIZE_URL, "jwks_url": REMOTE_JWKS_URL,
    }]
    with open(stack.settings_file, "r+") as handle:
        handle.truncate(0)
        handle.write(yaml.safe_dump(settings, sort_keys=False))
    try:
        restart_hub(stack)
        yield
    finally:
        with open(stack.settings_file, "r+") as handle:
            handle.truncate(0)
            handle.write(original)
        restart_hub(stack)


def slow_launch(base_url: str, key: SigningKey, user: str, issuer: str = ISSUER) -> str:
    """One LTI 1.3 launch from the slow (or ``issuer``'s) platform; its outcome ("ok" or a reason)."""
    target = base_url + "/hub/"
    params = {"iss": issuer, "login_hint": user, "target_link_uri": target, "client_id": CLIENT_ID,
              "lti_deployment_id": DEPLOYMENT_ID}
    with requests.Session() as session:
        initiation = session.get(f"{base_url}/hub/lti13/oauth_login?{urlencode(params)}",
                                 allow_redirects=False, timeout=LAUNCH_TIMEOUT)
        if initiation.status_code != 302:
            return f"initiation HTTP {initiation.status_code}"
        query = {k: v[0] for k, v in parse_qs(urlparse(initiation.headers["Location"]).query).items()}
        spec = LaunchSpec(user=user, role="student", course="slow101")
        claims = devplatform.id_token_claims(lti13_message_claims(spec, target, DEPLOYMENT_ID),
                                             nonce=query.get("nonce", ""), client_id=CLIENT_ID, issuer=issuer)
        callback = session.post(urljoin(base_url + "/hub/", query.get("redirect_uri", "")),
                                data={"id_token": key.sign(claims), "state": query.get("state", "")},
                                allow_redirects=False, timeout=LAUNCH_TIMEOUT)
        if callback.status_code == 302 and LOGIN_COOKIE in session.cookies:
            return "ok"
        return f"callback HTTP {callback.status_code}"


def probe(url: str, seconds: float) -> list[float]:
    """GET url/hub/api/ every PROBE_INTERVAL for ``seconds``, open loop (each probe on its own
    thread at its own time, so one stalled answer does not hide the ones behind it); latencies,
    a failed or timed-out probe counting in full."""
    count = int(seconds / PROBE_INTERVAL)
    start = time.monotonic()

    def one(index: int) -> float:
        time.sleep(max(0.0, start + index * PROBE_INTERVAL - time.monotonic()))
        started = time.perf_counter()
        try:
            requests.get(f"{url}/hub/api/", timeout=PROBE_TIMEOUT).raise_for_status()
        except requests.RequestException:
            pass
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def under_load(url: str, key: SigningKey) -> tuple[list[float], Counter]:
    """Probes while LAUNCHERS workers launch from the slow platform; waits (bounded) for them."""
    outcomes: Counter = Counter()
    durations: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + LOAD_SECONDS
    tag = secrets.token_hex(3)

    def worker(index: int) -> None:
        for n in range(LOAD_SECONDS + 1):  # at most one launch a second
            started = time.monotonic()
            if started >= end:
                return
            try:
                outcome = slow_launch(url, key, f"slow{tag}w{index}n{n}")
            except requests.RequestException as error:
                outcome = type(error).__name__
            with lock:
                outcomes[outcome] += 1
                durations.append(time.monotonic() - started)
            time.sleep(max(0.0, 1 - (time.monotonic() - started)))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(LAUNCHERS)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the launches are in flight before the first probe
    latencies = probe(url, LOAD_SECONDS)
    deadline = time.monotonic() + DRAIN_SECONDS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        outcomes["still running after the drain wait"] += sum(thread.is_alive() for thread in threads)
    if durations:
        outcomes[f"(launch p50 {sorted(durations)[len(durations) // 2]:.1f} s)"] = 0
    return latencies, outcomes


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {at(0.5):7.1f} ms  p95 {at(0.95):7.1f} ms  max {ordered[-1] * 1000:7.1f} ms ({len(ordered)} probes)"


def measure_side(url: str, key: SigningKey) -> tuple[str, str]:
    idle = probe(url, IDLE_SECONDS)
    loaded, outcomes = under_load(url, key)
    launches = ", ".join(f"{v} {k}" if v else k for k, v in outcomes.most_common())
    return summary(idle), f"{summary(loaded)}; launches: {launches}"


def remote_logins(url: str, key: SigningKey) -> str:
    """REMOTE_LOGINS LTI 1.3 logins, REMOTE_CONCURRENCY at a time, from the remote platform."""
    from .login import measure

    tag = secrets.token_hex(3)
    makes = [lambda i=i: i for i in range(REMOTE_LOGINS)]
    login = lambda i: slow_launch(url, key, f"rem{tag}n{i}", REMOTE_ISSUER) == "ok" or "refused"  # noqa: E731
    return measure(makes, login, REMOTE_CONCURRENCY).text()


def rows(bench) -> list[tuple[str, str, str]]:
    from coursehub import __version__

    stack = getattr(bench, "stack", bench)
    tag = stack.env.get("COURSEHUB_IMAGE_TAG") or __version__
    key = SigningKey.from_pem(generate_private_key_pem())
    stock_url = f"http://127.0.0.1:{STOCK_PORT}"
    with slow_jwks_server(stack, key, tag), \
            slow_jwks_server(stack, key, tag, alias=REMOTE_ALIAS, delay=REMOTE_SECONDS):
        with slow_platform_registered(stack):
            progress("jwks_slow: ours")
            ours_remote = remote_logins(stack.url, key)
            ours_idle, ours_loaded = measure_side(stack.url, key)
        progress("jwks_slow: stock")
        env = {"STOCK_ISSUER": REMOTE_ISSUER, "STOCK_CLIENT_ID": CLIENT_ID, "STOCK_JWKS": REMOTE_JWKS_URL,
               "STOCK_AUTHORIZE": AUTHORIZE_URL}
        with StockHub(tag, config=STOCK13_CONFIG, env=env, join=(stack.name,), port=STOCK_PORT):
            stock_remote = remote_logins(stock_url, key)
        env = {**env, "STOCK_ISSUER": ISSUER, "STOCK_JWKS": JWKS_URL}
        with StockHub(tag, config=STOCK13_CONFIG, env=env, join=(stack.name,), port=STOCK_PORT):
            stock_idle, stock_loaded = measure_side(stock_url, key)
    label = f"{LAUNCHERS} launchers, JWKS answers after {SLOW_SECONDS} s"
    return [
        (f"LTI 1.3 login (2 hub requests), {REMOTE_CONCURRENCY} concurrent, from an LMS whose JWKS "
         f"answers in {REMOTE_SECONDS * 1000:.0f} ms", ours_remote,
         f"stock LTI13Authenticator (fetches the JWKS on every launch): {stock_remote}"),
        ("GET /hub/api/ latency, idle", ours_idle, f"stock LTI13Authenticator: {stock_idle}"),
        (f"GET /hub/api/ latency, slow-JWKS LTI 1.3 launches ({label})", ours_loaded,
         f"stock LTI13Authenticator: {stock_loaded}"),
    ]
