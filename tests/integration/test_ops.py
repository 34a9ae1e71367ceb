"""What an IT admin relies on for a term, on a DEDICATED stack (coursehub-ops on 127.0.0.1:18300,
its HTTP redirect on 18301): HTTPS from the admin's certificate with plain HTTP redirected, LMS
framing headers and cross-site cookies, one structured log line per launch and refusal, idle
culling that keeps files, recovery from a Postgres restart, a killed server and `make down &&
make up`, `coursehub status`, `make upgrade`, and backup -> wipe -> restore. The stack has its
own certificate, a short culler and framing for one LMS origin; the backup test wipes its
volumes, so it runs last.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest
import requests

from harness import ROOT, Stack, read_env, unique, wait_until
from coursehub.core.logline import parse
from harness import prepare_files, wipe_project

OPS_STACK = os.environ.get("COURSEHUB_OPS_STACK", "coursehub-ops")
OPS_PORT = int(os.environ.get("COURSEHUB_OPS_PORT", "18300"))
OPS_HTTP_PORT = OPS_PORT + 1
OPS_WORK = ROOT / "build" / OPS_STACK
LMS_ORIGIN = "https://lms.example.edu"
# Short enough to watch, long enough that the other tests' servers (touched before each use)
# are not culled under them.
CULL_TIMEOUT, CULL_INTERVAL = 30, 5


@dataclass
class OpsStack(Stack):
    @property
    def ca(self) -> str:
        return str(self.work / "tls" / "tls.crt")

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/hub/health", timeout=3, verify=self.ca).status_code == 200
        except requests.RequestException:
            return False

    def reload_env(self) -> None:
        self.env = read_env(self.work / "coursehub.env")


def up(stack: OpsStack) -> None:
    started = time.monotonic()
    result = stack.run("scripts/up.sh", check=False, timeout=1800)
    if result.returncode != 0:
        pytest.fail(f"make up ({stack.name}) failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    print(f"\n{stack.name} up in {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="module")
def ops():
    url = f"https://127.0.0.1:{OPS_PORT}"
    reuse = os.environ.get("COURSEHUB_TEST_REUSE") == "1" and (OPS_WORK / "coursehub.env").exists()
    if not reuse:
        wipe_project(OPS_STACK)
        shutil.rmtree(OPS_WORK, ignore_errors=True)
        # No public URL: the hub must learn HTTPS from the certificate alone.
        prepare_files(
            {"culler": {"timeout": CULL_TIMEOUT, "interval": CULL_INTERVAL, "max_age": 0},
             "framing": {"allowed_origins": [LMS_ORIGIN]}},
            work=OPS_WORK, tls=True,
            env={"COURSEHUB_PORT": OPS_PORT, "COURSEHUB_HTTP_PORT": OPS_HTTP_PORT,
                 "COURSEHUB_PUBLIC_URL": ""},
        )
    stack = OpsStack(url, read_env(OPS_WORK / "coursehub.env"), name=OPS_STACK, work=OPS_WORK)
    stack.session.verify = stack.ca
    # NOTE: requests lets REQUESTS_CA_BUNDLE override Session.verify unless trust_env is off.
    stack.session.trust_env = False
    if not (reuse and stack.healthy()):
        up(stack)
    yield stack
    if os.environ.get("COURSEHUB_TEST_KEEP") != "1":
        stack.run("scripts/down.sh", check=False)


# -- helpers: everything through the proxy, as the LMS, a browser and the admin would -------
def login(stack: OpsStack, user: str, course: str, role: str = "student"):
    """A signed LTI 1.1 launch over HTTPS; returns (session, course id, hub username)."""
    from coursehub.devlms.launcher import LaunchSpec, lti11_launch

    key, _, secret = stack.env["COURSEHUB_LTI11_CONSUMERS"].split(",")[0].partition(":")
    url, fields = lti11_launch(stack.url, LaunchSpec(user=user, role=role, course=course), key, secret)
    session = requests.Session()
    session.verify, session.trust_env = stack.ca, False
    response = session.post(url, data=fields, allow_redirects=False, timeout=60)
    assert response.status_code == 302, response.text[:500]
    assert "jupyterhub-hub-login" in session.cookies, "the launch set no login cookie"
    course_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    name = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    return session, course_id, name, response


def open_course(stack: OpsStack, session: requests.Session, user: str, course: str) -> str:
    """The LMS link's landing page, then the spawn it asks for; waits until the server is ready.
    Returns the handler's decision as seen from its redirect (spawn or reuse)."""
    answer = session.get(f"{stack.url}/hub/coursehub/open/{course}", allow_redirects=False, timeout=60)
    assert answer.status_code == 302, answer.text[:500]
    decision = "reuse" if f"/user/{user}/{course}" in answer.headers["Location"] else "spawn"
    if decision == "spawn":
        session.get(f"{stack.url}/hub/spawn/{user}/{course}", allow_redirects=False, timeout=60)
    wait_until(lambda: server(stack, user, course).get("ready"), 120, 1,
               f"{user}/{course} to be ready", logs=lambda: stack.logs("hub", 60))
    touch(stack, user, course)
    return decision


def server(stack: OpsStack, user: str, course: str) -> dict:
    return stack.api("GET", f"/users/{user}").json()["servers"].get(course) or {}


def touch(stack: OpsStack, user: str, course: str) -> None:
    """Reports activity now, so the short culler leaves this server alone for CULL_TIMEOUT."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    stack.api("POST", f"/users/{user}/activity",
              json={"servers": {course: {"last_activity": now}}}).raise_for_status()


def contents(stack: OpsStack, user: str, course: str, path: str) -> str:
    return f"{stack.url}/user/{user}/{course}/api/contents/{path}"


def student_with_file(stack: OpsStack, prefix: str, path: str, size: int):
    """A new student launched into a new course, the server running, ``size`` random bytes
    written to ``path`` in the home: (lms user, course label, session, course, user, bytes)."""
    lms_user, label = unique(prefix), unique("c")
    session, course, user, _ = login(stack, lms_user, label)
    open_course(stack, session, user, course)
    data = secrets.token_bytes(size)
    write_file(stack, user, course, path, data)
    return lms_user, label, session, course, user, data


def canonical_groups(groups: list[dict]) -> dict[str, dict]:
    """The hub API's group models keyed by name, every list in them as a set."""
    return {g["name"]: {k: frozenset(v) if isinstance(v, list) else v for k, v in g.items()} for g in groups}


def write_file(stack: OpsStack, user: str, course: str, path: str, data: bytes) -> None:
    touch(stack, user, course)
    response = stack.session.put(
        contents(stack, user, course, path), timeout=30,
        headers={"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"},
        json={"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
    )
    assert response.status_code in (200, 201), response.text[:500]


def read_file(stack: OpsStack, user: str, course: str, path: str) -> bytes:
    touch(stack, user, course)
    response = stack.session.get(
        contents(stack, user, course, path), params={"format": "base64", "type": "file"},
        headers={"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"}, timeout=30,
    )
    assert response.status_code == 200, response.text[:500]
    return base64.b64decode(response.json()["content"])


def set_cookie_headers(response: requests.Response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


# -- HTTPS and framing --------------------------------------------------------------------
def test_https_from_the_admins_certificate_with_secure_cross_site_cookies(ops):
    assert requests.get(f"{ops.url}/hub/health", timeout=5, verify=ops.ca).status_code == 200
    # One port, one protocol: plain HTTP on the HTTPS port gets no hub page.
    try:
        plain = requests.get(f"http://127.0.0.1:{OPS_PORT}/hub/health", timeout=5)
        assert plain.status_code != 200
    except requests.RequestException:
        pass
    _, _, _, launch = login(ops, unique("tls"), unique("c"))
    cookies = [c for c in set_cookie_headers(launch) if c.startswith("jupyterhub-")]
    assert cookies, launch.headers
    for cookie in cookies:
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert "secure" in attributes and "samesite=none" in attributes, cookie


def test_plain_http_is_redirected_to_https_with_the_same_path(ops):
    for path in ("/hub/health", "/hub/login?next=%2Fhub%2Fhome", "/user/someone/c1/lab"):
        answer = requests.get(f"http://127.0.0.1:{OPS_HTTP_PORT}{path}", allow_redirects=False,
                              timeout=5)
        assert answer.status_code in (301, 302), (answer.status_code, answer.text[:300])
        assert answer.headers["Location"] == f"https://127.0.0.1:{OPS_PORT}{path}"
    # Followed by a browser: it lands on the hub over HTTPS.
    followed = ops.session.get(f"http://127.0.0.1:{OPS_HTTP_PORT}/hub/health", timeout=10)
    assert followed.status_code == 200 and followed.url == f"{ops.url}/hub/health"
    assert followed.history and followed.history[0].status_code in (301, 302)


def test_lms_may_frame_hub_pages_and_course_servers(ops):
    lms_user, label = unique("frm"), unique("c")
    session, course, user, _ = login(ops, lms_user, label)
    expected = f"frame-ancestors 'self' {LMS_ORIGIN}"
    home = session.get(f"{ops.url}/hub/home", timeout=10)
    assert home.status_code == 200 and home.headers["Content-Security-Policy"] == expected
    open_course(ops, session, user, course)
    # A browser's first visit: the server's OAuth round trip through the hub, then the page.
    page = session.get(f"{ops.url}/user/{user}/{course}/lab", timeout=30)
    assert page.status_code == 200, page.url
    assert page.headers["Content-Security-Policy"] == expected
    server_cookies = [c for c in session.cookies if c.name.startswith("jupyterhub-user-")]
    assert server_cookies and all(c.secure for c in server_cookies)
    ops.api("DELETE", f"/users/{user}/servers/{course}")


# -- log lines ----------------------------------------------------------------------------
def events(stack: OpsStack, event: str, **match: str) -> list[dict]:
    """The fields of the hub's `coursehub.<event>` log lines that contain ``match``."""
    found = []
    for line in stack.logs("hub", tail=5000).splitlines():
        if f"coursehub.{event} " in line:
            name, fields = parse(line)
            if name == event and all(fields.get(k) == v for k, v in match.items()):
                found.append(fields)
    return found


def test_each_launch_and_refusal_logs_one_parseable_line(ops):
    lms_user, label = unique("log"), unique("c")
    session, course, user, _ = login(ops, lms_user, label)
    assert open_course(ops, session, user, course) == "spawn"
    assert open_course(ops, session, user, course) == "reuse"
    lines = wait_until(lambda: len(events(ops, "launch", user=user)) >= 2 and events(ops, "launch", user=user),
                       15, 0.5, "two launch lines")
    assert [line["decision"] for line in lines] == ["start", "reuse"], lines
    for line in lines:
        assert line["course"] == course and line["role"] == "student"
        assert line["duration_ms"].isdigit() and line["image"].startswith("coursehub/student:")
    # A value from the "LMS" that tries to end the line and forge a launch of its own.
    forged = f"{unique('evil')}\ncoursehub.launch user=admin course={course} decision=reuse"
    refused = requests.post(f"{ops.url}/hub/lti/launch", data={"oauth_consumer_key": forged},
                            verify=ops.ca, allow_redirects=False, timeout=10)
    assert refused.status_code == 401 and "is not registered" in refused.text
    (line,) = wait_until(lambda: events(ops, "refused", kind="lti", platform=forged), 15, 0.5,
                         "the refusal line")
    assert line["reason"] == "unknown_key" and line["version"] == "1.1" and line["message"]
    hub_log = ops.logs("hub", tail=5000)
    # Exactly one line holds it (tornado logs no copy), and nothing parses as a forged launch.
    assert len([l for l in hub_log.splitlines() if forged.split("\n")[0] in l]) == 1, hub_log[-3000:]
    assert events(ops, "launch", user="admin") == []
    # A logged-in user opening a course they never launched: refused at the course page.
    other = unique("c")
    answer = session.get(f"{ops.url}/hub/coursehub/open/{other}", allow_redirects=False, timeout=10)
    assert answer.status_code == 403 and "from your LMS" in answer.text
    (line,) = wait_until(lambda: events(ops, "refused", kind="launch", user=user, course=other),
                         15, 0.5, "the course page's refusal line")
    assert line["reason"] == "no_launch" and line["decision"] == "refused"
    ops.api("DELETE", f"/users/{user}/servers/{course}")


# -- culling ------------------------------------------------------------------------------
def test_idle_server_is_culled_and_the_next_launch_has_every_file(ops):
    lms_user, label, session, course, user, data = student_with_file(ops, "cul", "kept.bin", 4096)
    container = ops.container_of(user, course).name
    started = time.monotonic()
    wait_until(lambda: not server(ops, user, course), CULL_TIMEOUT + CULL_INTERVAL + 40, 2,
               "the idle culler to stop the server", logs=lambda: ops.logs("hub", 80))
    culled_after = time.monotonic() - started
    wait_until(lambda: ops.find_container(user, course) is None, 30, 1, f"{container} to go")
    assert culled_after >= CULL_TIMEOUT - 10, f"culled after {culled_after:.0f}s: not idle long enough"
    session, course, user, _ = login(ops, lms_user, label)
    assert open_course(ops, session, user, course) == "spawn"
    assert read_file(ops, user, course, "kept.bin") == data


# -- faults -------------------------------------------------------------------------------
def test_hub_serves_without_errors_once_postgres_is_back(ops):
    assert ops.api("GET", "/users").status_code == 200  # pooled connections exist now
    ops.compose("restart", "postgres", timeout=120)
    wait_until(lambda: ops.compose("exec", "-T", "postgres", "pg_isready", "-h", "127.0.0.1", "-q",
                                   check=False).returncode == 0,
               60, 1, "postgres to accept connections again")
    codes = [ops.api("GET", "/users").status_code for _ in range(10)]
    codes += [ops.session.get(f"{ops.url}/hub/health", timeout=10).status_code for _ in range(5)]
    assert all(code < 500 for code in codes), codes
    lms_user, label = unique("pgr"), unique("c")
    session, course, user, _ = login(ops, lms_user, label)
    assert ops.api("GET", f"/users/{user}").json()["groups"] == [f"nbgrader-{course}"]


def test_killed_server_comes_back_on_the_next_launch_with_its_files(ops):
    lms_user, label, session, course, user, data = student_with_file(ops, "kil", "work.bin", 2048)
    ops.container_of(user, course).kill()
    # The next LMS launch, before the hub's own poll has noticed the dead container.
    session, course, user, _ = login(ops, lms_user, label)
    assert open_course(ops, session, user, course) == "spawn"
    assert read_file(ops, user, course, "work.bin") == data
    ops.api("DELETE", f"/users/{user}/servers/{course}")


def formgrader_answers(stack: OpsStack, session: requests.Session, course: str) -> bool:
    response = session.get(f"{stack.url}/services/{course}/formgrader/api/status", timeout=30)
    return response.status_code == 200 and response.json().get("status") is True


def grader_containers(stack: OpsStack) -> list:
    import docker

    return docker.from_env().containers.list(
        all=True, filters={"label": [f"coursehub.stack={stack.name}", "coursehub.grader"]})


def test_down_and_up_keep_users_groups_files_and_graders(ops):
    lms_user, label, session, course, user, data = student_with_file(ops, "dnu", "term.bin", 1024)
    # The same course's instructor provisions its grader (formgrader service).
    prof, _, _, _ = login(ops, unique("prof"), label, role="instructor")
    prof.get(f"{ops.url}/hub/coursehub/open/{course}", allow_redirects=False, timeout=180)
    wait_until(lambda: formgrader_answers(ops, prof, course), 120, 1, "the formgrader",
               logs=lambda: ops.logs("hub", 60))
    down = ops.run("scripts/down.sh", check=False, timeout=300)
    assert down.returncode == 0, down.stderr
    assert ops.find_container(user, course) is None
    assert grader_containers(ops) == [], "make down left grader containers behind"
    up(ops)
    model = ops.api("GET", f"/users/{user}").json()
    assert model["groups"] == [f"nbgrader-{course}"]
    # Graders start before the hub; the instructor's formgrader answers again, no relaunch.
    wait_until(lambda: formgrader_answers(ops, prof, course), 120, 1, "the formgrader after up",
               logs=lambda: ops.logs("hub", 60))
    session, course, user, _ = login(ops, lms_user, label)
    open_course(ops, session, user, course)
    assert read_file(ops, user, course, "term.bin") == data


def test_status_lists_courses_and_running_servers(ops):
    lms_user, label = unique("sts"), unique("c")
    session, course, user, _ = login(ops, lms_user, label)
    open_course(ops, session, user, course)
    result = ops.run("make", "-s", "status", check=False)  # the README's command
    assert result.returncode == 0, result.stdout + result.stderr
    assert course in result.stdout and user in result.stdout
    line = next(l for l in result.stdout.splitlines() if l.strip().startswith(course))
    assert "servers=1" in line
    ops.api("DELETE", f"/users/{user}/servers/{course}")


def test_make_up_restarts_the_hub_exactly_when_what_it_reads_changed(ops):
    import yaml

    def hub_started() -> str:
        return ops.container("hub").attrs["State"]["StartedAt"]

    def login_initiation(issuer: str) -> requests.Response:
        query = {"iss": issuer, "login_hint": "x", "target_link_uri": f"{ops.url}/hub/", "client_id": "new-1"}
        return ops.session.get(f"{ops.url}/hub/lti13/oauth_login", params=query, allow_redirects=False, timeout=30)

    issuer = f"https://{unique('lms')}.example"
    assert login_initiation(issuer).status_code == 400  # unknown issuer
    before = hub_started()
    began = time.monotonic()
    up(ops)
    print(f"warm make up, nothing changed: {time.monotonic() - began:.1f} s")
    assert hub_started() == before, "an unchanged stack was restarted"
    # The LMS admin adds a platform to the settings file and runs make up (docs/moodle.md).
    settings = yaml.safe_load(ops.settings_file.read_text())
    settings["lti13"].setdefault("platforms", []).append({
        "name": "new lms", "issuer": issuer, "client_ids": ["new-1"], "deployment_ids": ["1"],
        "authorize_url": f"{issuer}/auth", "jwks_url": f"{issuer}/jwks", "token_url": f"{issuer}/token",
    })
    ops.settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    up(ops)
    assert hub_started() != before, "make up kept the hub running with the old settings"
    answer = login_initiation(issuer)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(f"{issuer}/auth?"), answer.text[:500]


# -- upgrade ------------------------------------------------------------------------------
# Takes the hub database one alembic revision back: from JupyterHub 6's schema to JupyterHub 5's
# (6.0 added spawners.display_name), as a stack installed with an older release would have it.
DOWNGRADE_ONE_REVISION = """
import subprocess
from coursehub.core.settingsfile import load_settings
from jupyterhub.dbutil import _temp_alembic_ini
with _temp_alembic_ini(load_settings().db_url) as ini:
    subprocess.check_call(["alembic", "-c", ini, "downgrade", "-1"])
"""


def test_upgrade_backs_up_migrates_and_keeps_users_and_files(ops):
    lms_user, label, session, course, user, data = student_with_file(ops, "upg", "before-upgrade.bin", 4096)
    head = psql(ops, "jupyterhub", "SELECT version_num FROM alembic_version")
    ops.compose("stop", "hub", timeout=120)
    ops.compose("run", "--rm", "--no-deps", "-T", "hub", "python3", "-c", DOWNGRADE_ONE_REVISION,
                timeout=300)
    old = psql(ops, "jupyterhub", "SELECT version_num FROM alembic_version")
    assert old != head
    archives = set((ops.work / "backups").glob("coursehub-*.tar.gz"))

    started = time.monotonic()
    upgrade = ops.run("scripts/upgrade.sh", check=False, timeout=1800)
    seconds = time.monotonic() - started
    output = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, output[-4000:]
    print(f"\nmake upgrade in {seconds:.1f} s")
    assert len(set((ops.work / "backups").glob("coursehub-*.tar.gz")) - archives) == 1, output[-2000:]
    assert f"schema {old} -> {head}" in output, output[-4000:]
    assert psql(ops, "jupyterhub", "SELECT version_num FROM alembic_version") == head
    assert ops.env["POSTGRES_PASSWORD"] not in output
    assert ops.healthy()
    assert ops.api("GET", f"/users/{user}").json()["groups"] == [f"nbgrader-{course}"]
    session, course, user, _ = login(ops, lms_user, label)
    open_course(ops, session, user, course)
    assert read_file(ops, user, course, "before-upgrade.bin") == data
    ops.api("DELETE", f"/users/{user}/servers/{course}")


# -- backup and restore (wipes this stack's volumes: keep it last) ------------------------
def psql(stack: OpsStack, db: str, sql: str) -> str:
    user = stack.env.get("POSTGRES_USER", "coursehub")
    return stack.compose("exec", "-T", "postgres", "psql", "-U", user, "-d", db, "-tAc", sql).stdout.strip()


def test_backup_wipe_restore_brings_back_every_byte_and_row(ops):
    lms_user, label, session, course, user, data = student_with_file(ops, "bak", "thesis.bin", 256 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    # A second database stands in for a course gradebook: pg_dumpall must carry it too.
    probe_db = "ops_probe"
    psql(ops, "postgres", f"DROP DATABASE IF EXISTS {probe_db}")
    psql(ops, "postgres", f"CREATE DATABASE {probe_db}")
    psql(ops, probe_db, f"CREATE TABLE t (v text); INSERT INTO t VALUES ('{digest}')")
    groups_before = ops.api("GET", "/groups").json()
    uid_before = psql(ops, "jupyterhub", f"SELECT uid FROM coursehub_uids WHERE username = '{user}'")

    started = time.monotonic()
    backup = ops.run("scripts/backup.sh", check=False, timeout=600)
    backup_seconds = time.monotonic() - started
    assert backup.returncode == 0, backup.stdout + backup.stderr
    archives = sorted((ops.work / "backups").glob("coursehub-*.tar.gz"))
    assert archives, backup.stdout
    archive = archives[-1]
    assert archive.stat().st_mode & 0o777 == 0o600
    assert "SECRETS" in backup.stdout

    # A fresh host: no containers, no volumes, no env file, settings or secrets.
    ops.run("scripts/down.sh", timeout=300)
    subprocess.run(["docker", "volume", "rm", f"{ops.name}-data", f"{ops.name}-pgdata"], check=True,
                   capture_output=True)
    for path in ("coursehub.env", "settings.yaml", "secrets"):
        target = ops.work / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    started = time.monotonic()
    restore = subprocess.run(["scripts/restore.sh", str(archive)], cwd=ROOT, timeout=1800, text=True,
                             capture_output=True, env={**ops.compose_env(), "FORCE": "1"})
    restore_seconds = time.monotonic() - started
    assert restore.returncode == 0, restore.stdout[-3000:] + restore.stderr[-3000:]
    print(f"\nbackup {archive.stat().st_size / 1e6:.1f} MB in {backup_seconds:.1f} s, "
          f"restore in {restore_seconds:.1f} s")
    ops.reload_env()

    assert psql(ops, probe_db, "SELECT v FROM t") == digest
    assert psql(ops, "jupyterhub", f"SELECT uid FROM coursehub_uids WHERE username = '{user}'") == uid_before
    assert ops.api("GET", f"/users/{user}").json()["groups"] == [f"nbgrader-{course}"]
    # As sets: the hub API lists groups and members in no promised order.
    assert canonical_groups(ops.api("GET", "/groups").json()) == canonical_groups(groups_before)
    session, course, user, _ = login(ops, lms_user, label)
    open_course(ops, session, user, course)
    assert hashlib.sha256(read_file(ops, user, course, "thesis.bin")).hexdigest() == digest
    home = ops.container_of(user, course).exec_run("stat -c '%u %a' /home/jovyan").output.decode()
    assert home.split()[0] == uid_before, home
