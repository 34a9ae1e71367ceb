"""Per-course grader services, driven from outside: an instructor's first launch provisions
the course's formgrader; its instructors get in, students and other courses' instructors get
403; the grader runs unprivileged under its own ids; the hub keeps it across a restart."""

from __future__ import annotations

import re
import time

import requests

from harness import lti11_login, unique, wait_until


def open_course(stack, session, response, follow_spawn=False) -> str:
    """Follows an LTI launch to /hub/coursehub/open/{course} (which provisions a new course for
    staff) and returns the course id; the spawn that follows is not awaited."""
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    course = location.rstrip("/").rsplit("/", 1)[-1]
    opened = session.get(requests.compat.urljoin(stack.url, location), allow_redirects=False, timeout=180)
    assert opened.status_code == 302, opened.text[:1000]
    return course


def launch(stack, role: str, user: str | None = None, course: str | None = None, **kw):
    """(session, course id, hub username) of a fresh LTI 1.1 launch through the open page."""
    user = user or unique(role[:3])
    course = course or unique("c")
    session, response = lti11_login(stack, user=user, role=role, course=course, **kw)
    course_id = open_course(stack, session, response)
    name = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    return session, course_id, name


def enter(session: requests.Session, url: str) -> requests.Response:
    """GETs a page of a service or server, following JupyterHub's OAuth redirects with the
    browser's hub login cookie; the final answer is returned (200, or the hub's 403)."""
    return session.get(url, timeout=60)


def xsrf(session: requests.Session, path_prefix: str) -> dict:
    """The header a Jupyter server wants on POST/PUT/DELETE: its _xsrf cookie echoed back."""
    for cookie in session.cookies:
        if cookie.name == "_xsrf" and path_prefix.startswith(cookie.path.rstrip("/") or "/"):
            return {"X-XSRFToken": cookie.value}
    token = next((c.value for c in session.cookies if c.name == "_xsrf"), "")
    return {"X-XSRFToken": token}


def formgrader_ready(stack, session, course: str) -> bool:
    response = enter(session, f"{stack.url}/services/{course}/formgrader/api/status")
    return response.status_code == 200 and response.json().get("status") is True


def test_instructor_launch_provisions_a_ready_formgrader(stack):
    started = time.monotonic()
    session, course, instructor = launch(stack, "instructor")
    provisioned = time.monotonic() - started
    wait_until(lambda: formgrader_ready(stack, session, course), 90, 1,
               "the formgrader to answer", logs=lambda: stack.logs("hub", 80))
    print(f"\nfigure: first instructor launch -> provisioned {provisioned:.1f} s, "
          f"-> formgrader ready {time.monotonic() - started:.1f} s")

    # The course list of nbgrader finds the formgrader as a service named like the course.
    services = stack.api("GET", "/services").json()
    assert services[course]["prefix"] == f"/services/{course}/"
    assert services[course]["url"].endswith(f"-grader-{course}:8888")

    import docker

    container = docker.from_env().containers.get(f"{stack.name}-grader-{course}")
    attrs = container.attrs
    assert container.labels["coursehub.stack"] == stack.name
    assert container.labels["coursehub.grader"] == course
    uid, gid = attrs["Config"]["User"].split(":")
    assert int(uid) >= 20000 and int(gid) >= 20000 and uid != gid
    assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in attrs["HostConfig"]["SecurityOpt"]
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
    # The gradebook is the course's own database, under a role that is not the hub's.
    assert re.match(rf"postgresql(\+psycopg2)?://gradebook_{course.replace('-', '_')}:", env["NBGRADER_DB_URL"])
    assert stack.env["POSTGRES_PASSWORD"] not in env["NBGRADER_DB_URL"]

    # Opening the course again is idempotent: same container, same service, fast.
    started = time.monotonic()
    again = session.get(f"{stack.url}/hub/coursehub/open/{course}", allow_redirects=False, timeout=60)
    assert again.status_code == 302
    print(f"figure: relaunch of a provisioned course {time.monotonic() - started:.2f} s")
    assert container.id == docker.from_env().containers.get(f"{stack.name}-grader-{course}").id
    assert formgrader_ready(stack, session, course)


def test_formgrader_survives_a_hub_restart(stack):
    session, course, _ = launch(stack, "instructor")
    wait_until(lambda: formgrader_ready(stack, session, course), 120, 1,
               "the formgrader to answer", logs=lambda: stack.logs("hub", 80))
    import docker

    grader = docker.from_env().containers.get(f"{stack.name}-grader-{course}")
    stack.compose("restart", "hub", timeout=120)
    wait_until(stack.healthy, 90, 1, "the hub to come back", logs=lambda: stack.logs("hub"))
    # Same grader container, same runtime-registered service, same access (managed role).
    assert docker.from_env().containers.get(f"{stack.name}-grader-{course}").id == grader.id
    assert course in stack.api("GET", "/services").json()
    wait_until(lambda: formgrader_ready(stack, session, course), 60, 1,
               "the formgrader after the restart", logs=lambda: stack.logs("hub", 80))
    # ...and still nobody else's: a student of the same course is refused.
    student, student_course, _ = launch(stack, "student", course=course)
    assert student_course == course
    assert enter(student, f"{stack.url}/services/{course}/formgrader").status_code == 403


def test_students_and_other_instructors_are_refused(stack):
    session, course, _ = launch(stack, "instructor")
    wait_until(lambda: formgrader_ready(stack, session, course), 90, 1, "the formgrader")

    # A student of *this* course (labels made by unique() are ids that map to themselves).
    student, student_course, _ = launch(stack, "student", course=course)
    assert student_course == course
    refused = enter(student, f"{stack.url}/services/{course}/formgrader/api/status")
    assert refused.status_code == 403, (refused.status_code, refused.url)

    other, other_course, _ = launch(stack, "instructor")
    assert other_course != course
    refused = enter(other, f"{stack.url}/services/{course}/lab")
    assert refused.status_code == 403, (refused.status_code, refused.url)
    # ...while that instructor does get into their own course's formgrader.
    wait_until(lambda: formgrader_ready(stack, other, other_course), 90, 1, "the other formgrader")


def test_gradebook_databases_are_closed_to_other_roles(stack):
    session, course, _ = launch(stack, "instructor")
    name = "gradebook_" + course.replace("-", "_")
    user = stack.env.get("POSTGRES_USER", "coursehub")
    out = stack.compose(
        "exec", "-T", "postgres", "psql", "-U", user, "-d", "postgres", "-tAc",
        "select datname, has_database_privilege('" + name + "', datname, 'CONNECT') "
        "from pg_database where datname in ('" + name + "', '" + stack.env.get("POSTGRES_DB", "jupyterhub") + "')",
    ).stdout
    rows = dict(line.split("|") for line in out.split())
    assert rows[name] == "t"
    assert rows[stack.env.get("POSTGRES_DB", "jupyterhub")] == "f"


def test_students_who_came_before_the_grader_are_added_to_its_roster(stack):
    label = unique("early")
    _, course, student = launch(stack, "student", course=label)
    logs = stack.logs("hub", tail=400)
    assert f"coursehub.roster action=deferred user={student} course={course}" in logs
    assert f"coursehub.roster action=failed user={student}" not in logs
    session, same, _ = launch(stack, "instructor", course=label)
    assert same == course
    passwd = stack.compose("exec", "-T", "hub", "cat", f"/srv/coursehub/data/rosters/{course}/passwd").stdout
    names = {line.split(":", 1)[0] for line in passwd.splitlines()}
    assert {student, f"grader-{course}"} <= names, passwd
