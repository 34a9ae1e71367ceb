"""Faults on the shared test stack: what a restart, a dead part or a failed step does to a class,
measured from outside, and what must hold afterwards (nothing half-done stays broken).

Each test leaves the stack as it found it (healthy hub, no extra service), since later modules
share it.
"""

from __future__ import annotations

import time

import pytest
import requests

from harness import lti11_login, unique, wait_until

LAUNCH_TIMEOUT = 180
# Issue #20's goal: from the proxy answering again to every running server answering.
ROUTES_BACK_WITHIN = 10


def hub_state(stack) -> tuple[int, str]:
    """(restart count, start time) of the hub container: both change when the hub dies."""
    attrs = stack.container("hub").attrs
    return attrs["RestartCount"], attrs["State"]["StartedAt"]


def wait_healthy(stack, *services: str) -> None:
    """Until the engine reports each service's health check passing (later tests expect it)."""
    for service in services:
        wait_until(lambda: stack.container(service).attrs["State"]["Health"]["Status"] == "healthy",
                   120, 0.5, f"{service} to be healthy")


def formgrader_up(stack, session, course) -> bool:
    url = f"{stack.url}/services/{course}/formgrader/api/status"
    return session.get(url, timeout=30).json().get("status") is True


def open_as_instructor(stack, label: str):
    """A first instructor launch of course ``label``: (session, course id, open-page answer)."""
    session, response = lti11_login(stack, user=unique("ins"), role="instructor", course=label)
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    course = location.rstrip("/").rsplit("/", 1)[-1]
    return session, course, session.get(stack.url + location, allow_redirects=False, timeout=LAUNCH_TIMEOUT)


def test_a_course_provisioned_while_the_hub_starts_does_not_crash_it(stack):
    # An external service whose URL never answers keeps JupyterHub's start() in its loop over
    # the service map for its 30 s timeout: the window in which JupyterHub 6.1.1 exits when a
    # service is added (RuntimeError: dictionary changed size during iteration).
    slow = "coursehub-slow-" + unique("")
    # JupyterHub answers only after its own wait for the new service's URL (30 s).
    created = stack.api("POST", f"/services/{slow}", json={"url": "http://127.0.0.1:9"}, timeout=120)
    assert created.status_code == 201, created.text
    try:
        stack.compose("restart", "hub", timeout=120)
        restarts, started_at = hub_state(stack)
        wait_until(stack.healthy, 60, 0.2, "the hub's HTTP server, before its start-up finished")
        began = time.monotonic()
        session, course, opened = open_as_instructor(stack, unique("race"))
        assert opened.status_code == 302, opened.text[:1000]
        assert "/hub/spawn/" in opened.headers["Location"]
        wait_until(lambda: formgrader_up(stack, session, course), 120, 1, "the new course's formgrader",
                   logs=lambda: stack.logs("hub", 80))
        print(f"\nfirst staff launch during hub start-up: formgrader ready {time.monotonic() - began:.1f} s after the launch")
        assert hub_state(stack) == (restarts, started_at), "the hub restarted: " + stack.logs("hub", 80)
    finally:
        stack.api("DELETE", f"/services/{slow}")
        wait_until(stack.healthy, 120, 0.5, "the hub")
        wait_healthy(stack, "hub")


def test_failed_provisioning_shows_what_failed_and_the_next_launch_finishes_it(stack):
    label = unique("pf")
    course = label.lower()
    obstacle = f"/srv/coursehub/data/courses/{course}"
    # A file where the course directory belongs: the grader container cannot mount it.
    stack.compose("exec", "-T", "hub", "sh", "-c", f"mkdir -p /srv/coursehub/data/courses && touch {obstacle}")
    try:
        session, got, opened = open_as_instructor(stack, label)
        assert got == course
        assert opened.status_code == 503, opened.text[:1000]
        page = opened.text
        assert "could not be set up" in page and "the grader container failed" in page, page[:3000]
        assert "Nothing was lost" in page
        lines = [line for line in stack.logs("hub", 400).splitlines()
                 if "coursehub.refused" in line and "reason=provisioning_failed" in line and f"course={course}" in line]
        assert len(lines) == 1, lines
    finally:
        stack.compose("exec", "-T", "hub", "sh", "-c", f"rm -f {obstacle}")
    # The admin removed the cause: the next launch provisions the rest.
    session, _, opened = open_as_instructor(stack, label)
    assert opened.status_code == 302, opened.text[:1000]
    wait_until(lambda: formgrader_up(stack, session, course), 120, 1, "the formgrader after the retry",
               logs=lambda: stack.logs("hub", 80))
    assert requests.get(f"{stack.url}/hub/health", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def staffed_course(stack):
    """(instructor session, course id) of a provisioned course with a ready formgrader."""
    session, course, opened = open_as_instructor(stack, unique("fc"))
    assert opened.status_code == 302, opened.text[:1000]
    wait_until(lambda: formgrader_up(stack, session, course), 120, 1, "the formgrader")
    return session, course


def proxy_up(stack) -> bool:
    try:
        return requests.get(f"{stack.url}/_chp_healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_proxy_restart_costs_running_servers_seconds_not_minutes(stack, launched_student, staffed_course):
    user, course = launched_student["user"], launched_student["course"]
    assert stack.api("POST", f"/users/{user}/servers/{course}").status_code in (201, 202)
    wait_until(lambda: stack.api("GET", f"/users/{user}").json()["servers"].get(course, {}).get("ready"),
               120, 1, "the student's server")
    headers = {"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"}
    server = f"{stack.url}/user/{user}/{course}/api/status"
    fg_session, fg_course = staffed_course
    assert requests.get(server, headers=headers, timeout=10).status_code == 200
    hub_before = hub_state(stack)

    stack.compose("restart", "proxy", timeout=120)
    wait_until(lambda: proxy_up(stack), 60, 0.1, "the proxy to answer again")
    back = time.monotonic()

    def everything_answers():
        return (requests.get(server, headers=headers, timeout=5, allow_redirects=False).status_code == 200
                and formgrader_up(stack, fg_session, fg_course))

    wait_until(everything_answers, 60, 0.2, "the running server and formgrader through the new proxy",
               logs=lambda: stack.logs("hub", 60))
    took = time.monotonic() - back
    print(f"\nproxy restart: running server and formgrader answered {took:.1f} s after the proxy did")
    assert took <= ROUTES_BACK_WITHIN, f"routes came back after {took:.1f} s"
    # No 5xx once they are back, and the hub itself never noticed.
    for _ in range(10):
        assert requests.get(server, headers=headers, timeout=5).status_code == 200
    assert stack.api("GET", "/").status_code == 200
    assert hub_state(stack) == hub_before
    stack.api("DELETE", f"/users/{user}/servers/{course}")
    wait_healthy(stack, "proxy")
