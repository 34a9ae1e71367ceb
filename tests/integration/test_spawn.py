"""The spawn policy on real containers: what a launch's server runs, sees and may use, read
from outside through `docker inspect` (the Docker SDK) and `docker exec`, with every launch a
signed LTI 1.1 POST and every server state read from the hub REST API.

Each test uses fresh uuid users and courses and stops the servers it started.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import pytest
import requests

from harness import lti11_login, unique, wait_until

VERSION = (Path(__file__).resolve().parents[2] / "VERSION").read_text().strip()
STUDENT_IMAGE = f"coursehub/student:{VERSION}"
INSTRUCTOR_IMAGE = f"coursehub/instructor:{VERSION}"
NOTEBOOK_IMAGE = f"coursehub/notebook:{VERSION}"
EXCHANGE = "/srv/nbgrader/exchange"
COURSE_ROOT = "/srv/nbgrader/course"
VOLUMES = "/home/jovyan/volumes"
# conftest.prepare_files: students get 512M by default and 1G at most, 1 CPU (settings example).
STUDENT_MEM, STUDENT_MEM_MAX = 512 * 1024**2, 1024**3
MIN_UID = 20000
READY_TIMEOUT = 150


# -- helpers ------------------------------------------------------------------------------
class Launched:
    """One LTI launch followed through the hub like a browser: session, hub name, course id."""

    def __init__(self, stack, role: str, user: str, label: str, custom: dict | None = None):
        self.role, self.user, self.label = role, user, label
        self.session, self.response = lti11_login(
            stack, follow=True, user=user, role=role, course=label, custom=custom or {},
        )
        self.page = html.unescape(self.response.text)
        opened = [r.url for r in (*self.response.history, self.response) if "/coursehub/open/" in r.url]
        assert opened, f"the launch never reached the open page: {self.response.status_code} {self.page[:1500]}"
        self.course = opened[0].rstrip("/").rsplit("/", 1)[-1]
        me = self.session.get(f"{stack.url}/hub/api/user", timeout=30)
        assert me.status_code == 200, me.text
        self.name = me.json()["name"]


@pytest.fixture
def launch(stack):
    """Launches servers and stops every one of them after the test (load stays bounded)."""
    started: list[tuple[str, str]] = []

    def _launch(role="student", user=None, label=None, custom=None) -> Launched:
        launched = Launched(stack, role, user or unique(role[:3]), label or unique("c"), custom)
        started.append((launched.name, launched.course))
        return launched

    yield _launch
    for name, course in set(started):
        stack.api("DELETE", f"/users/{name}/servers/{course}")
    for name, course in set(started):
        wait_until(lambda: stack.find_container(name, course) is None, 60, 1,
                   f"the container of {name}/{course} to go")


def server_model(stack, name: str, course: str) -> dict:
    response = stack.api("GET", f"/users/{name}")
    assert response.status_code == 200, response.text
    return response.json()["servers"].get(course) or {}


def ready_container(stack, launched: Launched):
    """Waits for the launch's server to be ready; returns its container (fresh attrs).

    The launch left the server pending (or ready); a server that vanished meanwhile failed to
    start, which ends the wait at once instead of at the timeout.
    """

    def state() -> str | None:
        model = server_model(stack, launched.name, launched.course)
        return "gone" if not model else ("ready" if model.get("ready") else None)

    what = f"the server of {launched.name}/{launched.course}"
    final = wait_until(state, READY_TIMEOUT, 1, f"{what} to be ready", logs=lambda: stack.logs("hub", tail=80))
    assert final == "ready", f"{what} failed to start:\n{stack.logs('hub', tail=60)}"
    return stack.container_of(launched.name, launched.course)


def env_of(container) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in container.attrs["Config"]["Env"])


def binds_of(container) -> dict[str, tuple[str, bool]]:
    """Destination -> (host source, read-write) of every mount."""
    return {m["Destination"]: (m["Source"], m["RW"]) for m in container.attrs["Mounts"]}


def uid_of(container) -> int:
    return int(container.attrs["Config"]["User"].split(":")[0])


def run_in(container, command: str) -> tuple[int, str]:
    """`docker exec` as the container's own (unprivileged) user."""
    code, output = container.exec_run(["sh", "-c", command], user=container.attrs["Config"]["User"])
    return code, output.decode(errors="replace")


def hub_logs(stack) -> str:
    return stack.logs("hub", tail=3000)


def assert_refused(stack, launched: Launched, param: str, words: str) -> None:
    """A 4xx page naming the parameter, a log line, and no server or container at all."""
    assert 400 <= launched.response.status_code < 500, (
        f"{launched.response.status_code}: {launched.page[:2000]}"
    )
    assert f"custom parameter '{param}'" in launched.page, launched.page[:3000]
    assert words.lower() in launched.page.lower(), launched.page[:3000]
    assert "Traceback" not in launched.page
    assert "/spawn" not in launched.response.url
    assert server_model(stack, launched.name, launched.course) == {}
    assert stack.find_container(launched.name, launched.course) is None
    wait_until(lambda: f"coursehub.refused kind=launch user={launched.name} course={launched.course}"
               in hub_logs(stack), 15, 0.5, "the refusal log line")


# -- what a student's server is ----------------------------------------------------------
def test_student_servers_run_as_their_own_uid_with_only_home_and_exchange(stack, launch):
    label = unique("c")
    first, second = launch(user=unique("stu"), label=label), launch(user=unique("stu"), label=label)
    assert first.course == second.course and first.name != second.name
    course = first.course
    containers = [ready_container(stack, first), ready_container(stack, second)]
    uids = [uid_of(c) for c in containers]
    assert len(set(uids)) == 2 and min(uids) >= MIN_UID, uids
    for launched, container in zip((first, second), containers):
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        assert config["Image"] == STUDENT_IMAGE
        binds = binds_of(container)
        assert set(binds) == {"/home/jovyan", f"{EXCHANGE}/{course}"}, binds
        assert binds["/home/jovyan"][0].endswith(f"/homes/{course}/{launched.name}")
        assert binds[f"{EXCHANGE}/{course}"][0].endswith(f"/exchange/{course}")
        assert not any("docker.sock" in source for source, _ in binds.values())
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges" in host["SecurityOpt"]
        assert not host["Privileged"]
        assert host["Memory"] == STUDENT_MEM
        assert host["CpuQuota"] / host["CpuPeriod"] == pytest.approx(1.0)
        assert not host.get("GroupAdd")
        assert env_of(container)["COURSEHUB_ROLE"] == "student"
        assert "NBGRADER_COURSE_ROOT" not in env_of(container)
        # The images keep an empty mount point at COURSE_ROOT; for a student it stays empty.
        code, out = run_in(container, f"id -u; test -e /var/run/docker.sock || echo nosock; "
                                      f'[ -z "$(ls -A {COURSE_ROOT} 2>/dev/null)" ] && echo nocourse')
        assert code == 0 and out.split() == [str(uid_of(container)), "nosock", "nocourse"], out

    # Same link again: the same container keeps serving (same plan, nothing to restart).
    relaunched = launch(user=first.user, label=label)
    assert "/spawn" not in relaunched.response.url
    assert relaunched.name == first.name
    assert ready_container(stack, relaunched).id == containers[0].id

    # Stopped and launched again: a new container, the same uid.
    assert stack.api("DELETE", f"/users/{first.name}/servers/{course}").status_code in (202, 204)
    wait_until(lambda: stack.find_container(first.name, course) is None, 60, 1, "the container to go")
    restarted = launch(user=first.user, label=label)
    container = ready_container(stack, restarted)
    assert container.id != containers[0].id
    assert uid_of(container) == uids[0]


def test_a_student_cannot_see_another_home_nor_list_inbound_but_can_submit(stack, launch):
    label = unique("c")
    first, second = launch(label=label), launch(label=label)
    course = first.course
    mine, theirs = ready_container(stack, first), ready_container(stack, second)
    marker = unique("secret")
    code, out = run_in(theirs, f"echo private > /home/jovyan/{marker} && chmod 600 /home/jovyan/{marker}")
    assert code == 0, out
    # Anywhere in the first student's file system: the other home is simply not there.
    code, out = run_in(mine, f"find / -xdev -name {marker} 2>/dev/null; "
                             f"find /home /srv /mnt /tmp -name {marker} 2>/dev/null; true")
    assert marker not in out, out
    code, out = run_in(theirs, f"find /home -name {marker}")
    assert marker in out, "the marker must be findable in its own home (else the check above proves nothing)"
    inbound = f"{EXCHANGE}/{course}/inbound"
    code, out = run_in(mine, f"ls {inbound}")
    assert code != 0 and "Permission denied" in out, out
    code, out = run_in(mine, f"touch {inbound}/{first.name}+ps1+1 && echo written")
    assert code == 0 and "written" in out, out
    code, out = run_in(theirs, f"ls {inbound}")
    assert code != 0, out


# -- instructors ----------------------------------------------------------------------------
def test_instructor_server_gets_the_course_dir_and_group(stack, launch):
    instructor = launch(role="instructor")
    course = instructor.course
    container = ready_container(stack, instructor)
    assert container.attrs["Config"]["Image"] == INSTRUCTOR_IMAGE
    binds = binds_of(container)
    assert set(binds) == {"/home/jovyan", f"{EXCHANGE}/{course}", COURSE_ROOT}, binds
    assert binds[COURSE_ROOT][0].endswith(f"/courses/{course}") and binds[COURSE_ROOT][1] is True
    env = env_of(container)
    assert env["NBGRADER_COURSE_ROOT"] == COURSE_ROOT and env["COURSEHUB_ROLE"] == "instructor"
    group_add = container.attrs["HostConfig"]["GroupAdd"] or []
    code, out = run_in(container, f"stat -c %g {COURSE_ROOT} && touch {COURSE_ROOT}/written && echo ok")
    assert code == 0, out
    course_gid = out.split()[0]
    assert course_gid in group_add, (course_gid, group_add)
    assert uid_of(container) >= MIN_UID and int(course_gid) >= MIN_UID

    # A student of the same course: not in the course group, no course dir.
    student = launch(label=instructor.label)
    assert student.course == course
    student_container = ready_container(stack, student)
    assert course_gid not in (student_container.attrs["HostConfig"]["GroupAdd"] or [])
    assert COURSE_ROOT not in binds_of(student_container)


def test_assignment_must_be_released_in_the_course(stack, launch):
    instructor = launch(role="instructor")
    course = instructor.course
    refused = launch(label=instructor.label, custom={"assignment": "ps1"})
    assert_refused(stack, refused, "assignment", "not released")

    # What nbgrader's release leaves behind: the assignment's folder in the course's outbound.
    container = ready_container(stack, instructor)
    code, out = run_in(container, f"mkdir {EXCHANGE}/{course}/outbound/ps1 && echo released")
    assert code == 0, out
    student = launch(user=refused.user, label=instructor.label, custom={"assignment": "ps1"})
    env = env_of(ready_container(stack, student))
    assert env["COURSEHUB_ASSIGNMENT"] == "ps1"
    assert env["JUPYTERHUB_DEFAULT_URL"] == f"/lab/tree/{course}/ps1"


# -- custom parameters ----------------------------------------------------------------------
def test_custom_image_and_interface_change_the_server(stack, launch):
    launched = launch(custom={"image": NOTEBOOK_IMAGE, "interface": "notebook"})
    container = ready_container(stack, launched)
    assert container.attrs["Config"]["Image"] == NOTEBOOK_IMAGE
    assert env_of(container)["JUPYTERHUB_DEFAULT_URL"] == "/tree"
    # Through the proxy, the server's root sends the browser to the notebook tree.
    landed = launched.session.get(f"{stack.url}/user/{launched.name}/{launched.course}/", timeout=60)
    assert landed.status_code == 200
    assert landed.url.rstrip("/").endswith(f"/user/{launched.name}/{launched.course}/tree"), landed.url


def test_volumes_materials_read_only_and_own_submissions_folder(stack, launch):
    custom = {"volumes": "data:materials,hw:submissions,scratch:personal"}
    label = unique("c")
    first, second = launch(label=label, custom=custom), launch(label=label, custom=custom)
    course = first.course
    for launched in (first, second):
        container = ready_container(stack, launched)
        binds = binds_of(container)
        assert binds[f"{VOLUMES}/data"][0].endswith(f"/volumes/{course}/materials/data")
        assert binds[f"{VOLUMES}/data"][1] is False
        assert binds[f"{VOLUMES}/hw"][0].endswith(f"/volumes/{course}/submissions/hw/{launched.name}")
        assert binds[f"{VOLUMES}/hw"][1] is True
        assert binds[f"{VOLUMES}/scratch"][0].endswith(f"/personal/{course}/scratch/{launched.name}")
        code, out = run_in(container, f"touch {VOLUMES}/data/x 2>&1; echo rc=$?")
        assert "rc=0" not in out and "Read-only" in out, out
        code, out = run_in(container, f"echo {launched.name} > {VOLUMES}/hw/mine && echo ok")
        assert code == 0 and "ok" in out, out
    # Each sees only their own submission.
    code, out = run_in(stack.container_of(first.name, course), f"ls -A {VOLUMES}/hw; cat {VOLUMES}/hw/mine")
    assert out.split() == ["mine", first.name], out


def test_limits_are_clamped_to_the_role_maximum_and_logged(stack, launch):
    launched = launch(custom={"mem_limit": "4G", "cpu_limit": "1.5"})
    host = ready_container(stack, launched).attrs["HostConfig"]
    assert host["Memory"] == STUDENT_MEM_MAX
    assert host["CpuQuota"] / host["CpuPeriod"] == pytest.approx(1.5)
    wait_until(lambda: any(
        f"coursehub.spawn user={launched.name} course={launched.course}" in line
        and f"mem_limit 4G lowered to the student maximum {STUDENT_MEM_MAX}" in line
        for line in hub_logs(stack).splitlines()), 15, 0.5, "the clamp in the spawn log line")


@pytest.mark.parametrize("param,value,words", [
    ("image", "/var/run/docker.sock", "not an image name"),
    ("image", INSTRUCTOR_IMAGE, "not allowed for students"),
    ("image", "evil/miner:1.0", "not allowed for students"),
    ("volumes", "/etc:materials", "host path"),
    ("volumes", "../../homes:materials", "'..'"),
    ("volumes", "a/b:materials", "path separator"),
    ("volumes", "Data$1:materials", "use 1-32 of a-z"),
    ("volumes", "data:materials:rw", "read-only"),
    ("interface", "bogus", "not one of lab, notebook"),
    ("assignment", "ps1", "not released"),
])
def test_invalid_parameters_refuse_the_launch_and_start_nothing(stack, launch, param, value, words):
    assert_refused(stack, launch(custom={param: value}), param, words)


# -- one server per course, and plans that change ------------------------------------------
def test_a_second_course_gets_a_second_separate_server(stack, launch):
    user = unique("stu")
    first, second = launch(user=user), launch(user=user)
    assert first.name == second.name and first.course != second.course
    one, two = ready_container(stack, first), ready_container(stack, second)
    assert one.id != two.id
    assert set(stack.api("GET", f"/users/{first.name}").json()["servers"]) >= {first.course, second.course}
    for container, mine, other in ((one, first.course, second.course), (two, second.course, first.course)):
        exchanges = [d for d in binds_of(container) if d.startswith(EXCHANGE)]
        assert exchanges == [f"{EXCHANGE}/{mine}"]
        code, out = run_in(container, f"ls {EXCHANGE}; test -e {EXCHANGE}/{other} || echo absent")
        assert out.split() == [mine, "absent"], out
    assert uid_of(one) == uid_of(two), "one user, one uid, whatever the course"


@pytest.mark.parametrize("before,after,changed", [
    ({"interface": "lab"}, {"interface": "notebook"}, lambda c: env_of(c)["JUPYTERHUB_DEFAULT_URL"] == "/tree"),
    ({}, {"mem_limit": "768M"}, lambda c: c.attrs["HostConfig"]["Memory"] == 768 * 1024**2),
])
def test_a_changed_plan_restarts_the_server(stack, launch, before, after, changed):
    first = launch(custom=before)
    old = ready_container(stack, first)
    assert not changed(old)
    again = launch(user=first.user, label=first.label, custom=after)
    assert again.name == first.name
    wait_until(lambda: (stack.find_container(first.name, first.course) or old).id != old.id,
               READY_TIMEOUT, 1, "a new container")
    new = ready_container(stack, again)
    assert new.id != old.id and changed(new)
    wait_until(lambda: "coursehub.launch user=%s course=%s role=student decision=restart"
               % (first.name, first.course) in hub_logs(stack), 15, 0.5, "the restart log line")
