"""The compose stack under test, as plain code shared by tests/integration, tests/e2e and bench:
an isolated project (coursehub-test on 127.0.0.1:18000) with its own env file, secrets,
settings and volumes, brought up with the README's own scripts.

Tests talk to it only from outside: HTTP through the proxy, the hub REST API, and the engine's
API (Docker's, or Podman's Docker-compatible one for a stack with engine="podman") to inspect
the containers the hub made. Set COURSEHUB_TEST_REUSE=1 to reuse a running
test stack, COURSEHUB_TEST_KEEP=1 to leave it running afterwards; COURSEHUB_TEST_STACK and
COURSEHUB_TEST_PORT pick another project (e.g. a developer's own, or the load test's).
The pytest fixture `stack` (tests/conftest.py) wraps start_stack() / stop_stack().
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from urllib.parse import parse_qs, urljoin, urlparse

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hub"))
sys.path.insert(0, str(ROOT / "tests"))

STACK = os.environ.get("COURSEHUB_TEST_STACK", "coursehub-test")
PORT = int(os.environ.get("COURSEHUB_TEST_PORT", "18000"))
WORK = ROOT / "build" / STACK
# Where scripts/podman-setup.sh serves Podman's API (scripts/lib.sh PODMAN_SOCKET).
PODMAN_SOCKET = os.environ.get("COURSEHUB_PODMAN_SOCKET", "/run/podman/podman.sock")
TIMEOUT = 30

from coursehub.core.devplatform import DEV_KEY_FILENAME  # noqa: E402 - hub/ is on the path now
from coursehub.devlms.launcher import LaunchSpec, lti13_login_url, parse_form  # noqa: E402
from coursehub.lti.toolkeys import SigningKey  # noqa: E402


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition", logs=None):
    """Polls `predicate` until it returns a truthy value; on timeout raises with the last
    value (or exception) and, when given, the output of `logs()`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except Exception as error:  # noqa: BLE001 - reported below if it persists
            last = error
        if time.monotonic() >= deadline:
            detail = logs() if logs else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}\n{detail}")
        time.sleep(interval)


def stack_env(name: str, work: Path, engine: str = "docker") -> dict:
    """The environment under which the README's scripts act on test stack ``name``, whose env
    file, secrets, settings and folders prepare_files wrote into ``work``, on ``engine``."""
    return {
        **os.environ,
        "COURSEHUB_ENGINE": engine,
        "COURSEHUB_STACK": name,
        "COURSEHUB_ENV_FILE": str(work / "coursehub.env"),
        "COURSEHUB_SECRETS_DIR": str(work / "secrets"),
        "COURSEHUB_SETTINGS_FILE": str(work / "settings.yaml"),
        "COURSEHUB_CONFIG_D": str(work / "jupyterhub_config.d"),
        "COURSEHUB_TLS_DIR": str(work / "tls"),
        "COURSEHUB_BACKUP_DIR": str(work / "backups"),
    }


@dataclass
class Stack:
    url: str
    env: dict
    name: str = STACK
    work: Path = WORK
    session: requests.Session = field(default_factory=requests.Session)
    engine: str = "docker"

    @property
    def secrets_dir(self) -> Path:
        return self.work / "secrets"

    @property
    def settings_file(self) -> Path:
        return self.work / "settings.yaml"

    def compose_env(self) -> dict:
        return stack_env(self.name, self.work, self.engine)

    def client(self):
        """A docker-py client of the stack's engine."""
        return engine_client(self.engine)

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, cwd=ROOT, env=self.compose_env(), check=check, timeout=timeout,
            capture_output=True, text=True,
        )

    def compose(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.run("scripts/compose.sh", *args, check=check, timeout=timeout)

    def logs(self, service: str = "", tail: int = 200) -> str:
        args = ["logs", "--no-color", "--tail", str(tail)] + ([service] if service else [])
        result = self.compose(*args, check=False)
        return result.stdout + result.stderr

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.env['COURSEHUB_API_TOKEN']}", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.url}/hub/api{path}", headers=headers, **kwargs)

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/hub/health", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def container(self, service: str):
        found = self.client().containers.list(filters={"label": [
            f"com.docker.compose.project={self.name}", f"com.docker.compose.service={service}",
        ]})
        assert found, f"no running {service} container in {self.name}"
        return found[0]

    def grader_logs(self, course: str) -> str:
        """The output of `course`'s grader container (the formgrader and nbgrader's logs)."""
        found = self.client().containers.list(all=True, filters={"label": [
            f"coursehub.stack={self.name}", f"coursehub.grader={course}",
        ]})
        assert found, f"no grader container for {course}"
        return found[0].logs(tail=2000).decode(errors="replace")

    def find_container(self, user: str, course: str):
        """The container the hub made for `user`'s server of `course`, or None."""
        found = self.client().containers.list(all=True, filters={"label": [
            f"coursehub.stack={self.name}", f"coursehub.user={user}", f"coursehub.course={course}",
        ]})
        return found[0] if found else None

    def container_of(self, user: str, course: str):
        container = self.find_container(user, course)
        assert container is not None, f"no container for {user}/{course}"
        return container


def engine_client(engine: str = "docker"):
    """docker-py on Docker (DOCKER_HOST or its default socket) or on Podman's API socket."""
    import docker

    if engine == "podman":
        return docker.DockerClient(base_url=f"unix://{PODMAN_SOCKET}")
    return docker.from_env()


def read_env(path: Path) -> dict:
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def prepare_files(overrides: dict | None = None, *, work: Path = WORK, env: dict | None = None,
                  tls: bool = False) -> None:
    """A test stack's own env file, secrets and settings (dev platform on) in ``work``.
    ``overrides`` replace keys of settings sections, e.g. ``{"spawn": {"start_timeout": 300}}``;
    ``env`` sets keys of the env file over the test project's port, bind address and public
    URL; ``tls`` adds a self-signed certificate for 127.0.0.1 (``work/tls/tls.crt``)."""
    for sub in ("jupyterhub_config.d", "tls"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    files = {
        **os.environ,
        "COURSEHUB_ENV_FILE": str(work / "coursehub.env"),
        "COURSEHUB_SECRETS_DIR": str(work / "secrets"),
        "COURSEHUB_SETTINGS_FILE": str(work / "settings.yaml"),
    }
    subprocess.run(["scripts/secrets.sh"], cwd=ROOT, env=files, check=True, capture_output=True)
    env_values = {
        "COURSEHUB_PORT": str(PORT),
        "COURSEHUB_BIND": "127.0.0.1",
        "COURSEHUB_PUBLIC_URL": f"http://127.0.0.1:{PORT}",
        **{key: str(value) for key, value in (env or {}).items()},
    }
    lines = []
    for line in (work / "coursehub.env").read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={env_values.pop(key)}" if key in env_values else line)
    lines += [f"{key}={value}" for key, value in env_values.items()]
    (work / "coursehub.env").write_text("\n".join(lines) + "\n")
    settings = yaml.safe_load((ROOT / "settings.example.yaml").read_text())
    tag = (ROOT / "VERSION").read_text().strip()
    settings["lti13"]["dev_platform"] = True
    # An extra image students may pick with the `image` custom parameter.
    settings["roles"]["student"]["allowed_images"] = [f"coursehub/notebook:{tag}"]
    settings["roles"]["student"]["mem"] = "512M"
    settings["roles"]["student"]["mem_max"] = "1G"
    settings["culler"] = {"timeout": 0, "interval": 300, "max_age": 0}
    for section, values in (overrides or {}).items():
        settings.setdefault(section, {}).update(values)
    (work / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    if tls:
        subprocess.run([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(work / "tls" / "tls.key"), "-out", str(work / "tls" / "tls.crt"),
        ], check=True, capture_output=True)
        # The proxy runs as nobody: the key must be readable by it (docs/operations.md).
        (work / "tls" / "tls.key").chmod(0o644)


class StackStartError(RuntimeError):
    """`make up` of the test project failed; the message holds the end of its output."""


def wipe_project(name: str, engine: str = "docker") -> None:
    """Removes every container, the network and the volumes of the *test* project `name` on
    `engine` (its command line: docker or podman), so a run starts from nothing - also when they
    were left by another checkout, whose env file (and so whose database password) this one does
    not have. Never used on the admin's project."""
    assert name not in ("coursehub", "coursehub-podman"), "refusing to wipe the admin's own stack"
    for label in (f"com.docker.compose.project={name}", f"coursehub.stack={name}"):
        ids = subprocess.run([engine, "ps", "-aq", "--filter", f"label={label}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([engine, "rm", "-f", *ids], capture_output=True)
    subprocess.run([engine, "volume", "rm", f"{name}-data", f"{name}-pgdata"], capture_output=True)
    subprocess.run([engine, "network", "rm", name], capture_output=True)


def start_stack(settings_overrides: dict | None = None, extra_config: str = "") -> Stack:
    """The test project's stack, healthy: reused when COURSEHUB_TEST_REUSE=1 and it answers,
    otherwise removed with its volumes and brought up from nothing with scripts/up.sh.
    ``extra_config`` goes to the stack's jupyterhub_config.d (the admin's escape hatch)."""
    url = f"http://127.0.0.1:{PORT}"
    reuse = os.environ.get("COURSEHUB_TEST_REUSE") == "1"
    if not (reuse and (WORK / "coursehub.env").exists()):
        wipe_project(STACK)
        shutil.rmtree(WORK, ignore_errors=True)
        prepare_files(settings_overrides)
        if extra_config:
            (WORK / "jupyterhub_config.d" / "50-harness.py").write_text(extra_config)
    stack = Stack(url, read_env(WORK / "coursehub.env"))
    if not (reuse and stack.healthy()):
        started = time.monotonic()
        result = stack.run("scripts/up.sh", check=False, timeout=1800)
        if result.returncode != 0:
            raise StackStartError(f"make up failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        print(f"\ntest stack {STACK} up in {time.monotonic() - started:.1f} s")
    return stack


def stop_stack(stack: Stack) -> None:
    """Stops the stack unless COURSEHUB_TEST_KEEP=1 (its volumes stay until the next start)."""
    if os.environ.get("COURSEHUB_TEST_KEEP") != "1":
        stack.run("scripts/down.sh", check=False)


def consumer(stack: Stack) -> tuple[str, str]:
    key, _, secret = stack.env["COURSEHUB_LTI11_CONSUMERS"].split(",")[0].partition(":")
    return key, secret


def lti11_login(stack: Stack, follow: bool = False, **spec) -> tuple[requests.Session, requests.Response]:
    """A signed LTI 1.1 launch as an LMS would post it; returns the browser session and the
    hub's answer (the redirect to coursehub/open/{course} when it succeeded)."""
    from coursehub.devlms.launcher import lti11_launch

    key, secret = consumer(stack)
    url, fields = lti11_launch(stack.url, LaunchSpec(**spec), key, secret)
    session = requests.Session()
    response = session.post(url, data=fields, allow_redirects=follow, timeout=60)
    return session, response


# -- LTI 1.3 through the stack's development platform (the real three requests) ------------
def dev_key(stack) -> SigningKey:
    return SigningKey.from_file(stack.secrets_dir / DEV_KEY_FILENAME)


@dataclass
class Captured13:
    """An LTI 1.3 callback POST as the browser would send it (replayable)."""

    action: str
    fields: dict[str, str]
    session: requests.Session
    nonce: str = ""
    state: str = ""
    redirect_uri: str = ""


def lti13_begin(stack, spec: LaunchSpec, **login_kwargs) -> tuple[requests.Session, requests.Response]:
    """Login initiation only: the hub's answer (a redirect to the platform) and the session."""
    session = requests.Session()
    url = lti13_login_url(stack.url, dev_key(stack), spec, **login_kwargs)
    return session, session.get(url, allow_redirects=False, timeout=TIMEOUT)


def lti13_capture(stack, spec: LaunchSpec, **login_kwargs) -> Captured13:
    """Initiation + the dev platform's authorize step; stops before the callback POST."""
    session, response = lti13_begin(stack, spec, **login_kwargs)
    assert response.status_code == 302, response.text[:2000]
    authorize = urljoin(stack.url, response.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(urlparse(authorize).query).items()}
    page = session.get(authorize, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:2000]
    action, fields = parse_form(page.text)
    return Captured13(action, fields, session, query["nonce"], query["state"], query["redirect_uri"])


def post_lti13_callback(captured: Captured13, id_token: str | None = None, session=None) -> requests.Response:
    fields = dict(captured.fields)
    if id_token is not None:
        fields["id_token"] = id_token
    return (session or captured.session).post(captured.action, data=fields, allow_redirects=False, timeout=TIMEOUT)


def lti13_login(stack, spec: LaunchSpec, **login_kwargs) -> tuple[requests.Session, requests.Response]:
    captured = lti13_capture(stack, spec, **login_kwargs)
    return captured.session, post_lti13_callback(captured)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"
