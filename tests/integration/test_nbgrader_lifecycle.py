"""The whole nbgrader lifecycle through the stack, as an LMS, instructors and students would
drive it: author, generate and release an assignment in the formgrader; students fetch, work
and submit in their own servers; collect, autograde, feedback; two courses side by side."""

from __future__ import annotations

import json
import time

import requests

from harness import lti11_login, unique, wait_until
from test_graders import formgrader_ready, open_course

AUTOGRADED = {
    "cell_type": "code", "execution_count": None, "outputs": [],
    "metadata": {"nbgrader": {"grade": False, "grade_id": "square", "locked": False,
                              "schema_version": 3, "solution": True, "task": False}},
    "source": "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
}
TESTS = {
    "cell_type": "code", "execution_count": None, "outputs": [],
    "metadata": {"nbgrader": {"grade": True, "grade_id": "test_square", "locked": True,
                              "points": 2, "schema_version": 3, "solution": False, "task": False}},
    "source": "assert square(3) == 9\nassert square(-2) == 4",
}
MANUAL = {
    "cell_type": "markdown", "metadata": {"nbgrader": {
        "grade": True, "grade_id": "explain", "locked": False, "points": 1,
        "schema_version": 3, "solution": True, "task": False}},
    "source": "Explain squares.\n\n=== BEGIN MARK SCHEME ===\nany\n=== END MARK SCHEME ===",
}
NOTEBOOK = {
    "cells": [AUTOGRADED, TESTS, MANUAL],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


class Browser:
    """A requests session that carries the hub login cookie and talks to one Jupyter server
    (a course's formgrader service or a user's course server) below `prefix`."""

    def __init__(self, stack, session: requests.Session, prefix: str):
        self.stack, self.session, self.prefix = stack, session, prefix.rstrip("/") + "/"

    def url(self, path: str) -> str:
        return f"{self.stack.url}{self.prefix}{path.lstrip('/')}"

    def enter(self) -> requests.Response:
        # The page sets the server's _xsrf cookie after JupyterHub's OAuth redirects.
        return self.session.get(self.url("lab"), timeout=60)

    def headers(self) -> dict:
        token = next((c.value for c in self.session.cookies
                      if c.name == "_xsrf" and c.path.rstrip("/") + "/" == self.prefix), "")
        return {"X-XSRFToken": token}

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url(path), timeout=120, **kw)

    def send(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, self.url(path), headers=self.headers(), timeout=300, **kw)

    def ok(self, method: str, path: str, **kw):
        response = self.send(method, path, **kw)
        assert response.status_code < 300, (method, path, response.status_code, response.text[:2000])
        body = response.json() if response.text else None
        if isinstance(body, dict) and body.get("success") is False:
            raise AssertionError((method, path, body))
        return body


def instructor(stack, label: str, user: str):
    session, response = lti11_login(stack, user=user, role="instructor", course=label)
    started = time.monotonic()
    course = open_course(stack, session, response)
    wait_until(lambda: formgrader_ready(stack, session, course), 120, 1, "the formgrader",
               logs=lambda: stack.logs("hub", 60))
    fg = Browser(stack, session, f"/services/{course}/")
    assert fg.enter().status_code == 200
    return course, fg, time.monotonic() - started


def student_server(stack, label: str, user: str):
    """A student's launch, then their course server started and entered like a browser."""
    started = time.monotonic()
    session, response = lti11_login(stack, user=user, role="student", course=label,
                                    name=f"{user.title()} Tester")
    course = open_course(stack, session, response)
    name = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    answer = stack.api("POST", f"/users/{name}/servers/{course}")
    assert answer.status_code in (201, 202), answer.text

    def ready():
        return stack.api("GET", f"/users/{name}").json()["servers"].get(course, {}).get("ready")

    wait_until(ready, 180, 1, f"{name}'s server", logs=lambda: stack.logs("hub", 60))
    server = Browser(stack, session, f"/user/{name}/{course}/")
    assert server.enter().status_code == 200
    return name, course, server, started


def author_and_release(fg: Browser, assignment: str = "ps1") -> None:
    fg.ok("PUT", f"formgrader/api/assignment/{assignment}", json={})
    fg.ok("PUT", f"api/contents/source/{assignment}/{assignment}.ipynb",
          json={"type": "notebook", "format": "json", "content": NOTEBOOK})
    fg.ok("POST", f"formgrader/api/assignment/{assignment}/assign")
    fg.ok("POST", f"formgrader/api/assignment/{assignment}/release")


def work_and_submit(server: Browser, course: str, correct: bool, assignment: str = "ps1") -> None:
    form = {"course_id": course, "assignment_id": assignment}
    # A link that names the assignment fetched it when the server started.
    if server.get(f"api/contents/{course}/{assignment}").status_code != 200:
        server.ok("POST", "assignments/fetch", data=form)
    path = f"api/contents/{course}/{assignment}/{assignment}.ipynb"
    model = server.get(path).json()
    nb = model["content"]
    body = "return x * x" if correct else "return x + x"
    nb["cells"][0]["source"] = f"def square(x):\n    {body}"
    nb["cells"][2]["source"] = f"My own answer, {'right' if correct else 'wrong'}."
    server.ok("PUT", path, json={"type": "notebook", "format": "json", "content": nb})
    server.ok("POST", "assignments/submit", data=form)


def test_two_courses_full_lifecycle(stack):
    label_a, label_b = unique("la"), unique("lb")
    prof = unique("prof")
    course_a, fg_a, first_fg = instructor(stack, label_a, prof)
    course_b, fg_b, _ = instructor(stack, label_b, prof)  # one instructor in both courses
    print(f"\nfigure: first instructor launch of a new course -> formgrader ready {first_fg:.1f} s")

    author_and_release(fg_a)
    author_and_release(fg_b)

    good = unique("good")
    both = unique("both")  # a student in both courses
    good_name, _, good_a, started = student_server(stack, label_a, good)
    listed = good_a.get("assignments", params={"course_id": course_a}).json()
    print(f"figure: student launch -> server with a listed assignment {time.monotonic() - started:.1f} s")
    assert any(a["assignment_id"] == "ps1" and a["status"] == "released" for a in listed["value"]), listed
    both_name, _, both_a, _ = student_server(stack, label_a, both)
    _, _, both_b, _ = student_server(stack, label_b, both)

    work_and_submit(good_a, course_a, correct=True)
    work_and_submit(both_a, course_a, correct=False)
    work_and_submit(both_b, course_b, correct=True)

    # Nothing of course A is visible from course B: its server lists only B's assignments,
    # and fetching A's assignment from B's server fails.
    from_b = both_b.get("assignments", params={"course_id": course_a}).json()
    assert not from_b.get("value"), from_b
    refused = both_b.send("POST", "assignments/fetch", data={"course_id": course_a, "assignment_id": "ps1"})
    assert refused.status_code >= 400 or refused.json().get("success") is False or \
        not any(a.get("course_id") == course_a for a in refused.json().get("value", [])), refused.text[:500]

    fg_a.ok("POST", "formgrader/api/assignment/ps1/collect")
    # nbgrader's owner check resolved every submitting uid to its student (roster passwd):
    # an unknown owner would be logged as a possible cheating attempt.
    grader_logs = stack.grader_logs(course_a)
    assert "cheating attempt" not in grader_logs, grader_logs[-2000:]
    for name in (good_name, both_name):
        fg_a.ok("POST", f"formgrader/api/submission/ps1/{name}/autograde")
    scores = {s["student"]: s for s in fg_a.get("formgrader/api/submissions/ps1").json()}
    assert set(scores) == {good_name, both_name}, scores
    # nbgrader's submission dicts (api.py submission_dicts) have no "autoscore": the autograded
    # tests count in code_score; the manual cell is still ungraded, so score equals it.
    assert scores[good_name]["code_score"] == 2 and scores[both_name]["code_score"] == 0, scores
    assert scores[good_name]["score"] == 2 and scores[both_name]["score"] == 0, scores
    assert scores[good_name]["max_score"] == 3 and scores[good_name]["needs_manual_grade"], scores
    # Course B's gradebook saw only its own submission.
    fg_b.ok("POST", "formgrader/api/assignment/ps1/collect")
    assert [s["student"] for s in fg_b.get("formgrader/api/submissions/ps1").json()] == [both_name]
    # The roster kept the names the LMS sent.
    roster = {s["id"]: s for s in fg_a.get("formgrader/api/students").json()}
    assert roster[good_name]["first_name"] or roster[good_name]["last_name"], roster[good_name]

    fg_a.ok("POST", "formgrader/api/assignment/ps1/generate_feedback")
    fg_a.ok("POST", "formgrader/api/assignment/ps1/release_feedback")
    for server, own, other in ((good_a, "right", "wrong"), (both_a, "wrong", "right")):
        server.ok("POST", "assignments/fetch_feedback", data={"course_id": course_a, "assignment_id": "ps1"})
        folder = server.get(f"api/contents/{course_a}/ps1/feedback").json()["content"]
        assert len(folder) == 1, folder
        html = server.get(f"api/contents/{folder[0]['path']}/ps1.html").json()["content"]
        assert f"My own answer, {own}." in html and f"My own answer, {other}." not in html


def test_students_cannot_open_the_formgrader(stack):
    label = unique("lc")
    course, _, _ = instructor(stack, label, unique("prof"))
    session, response = lti11_login(stack, user=unique("stu"), role="student", course=label)
    assert open_course(stack, session, response) == course
    assert session.get(f"{stack.url}/services/{course}/formgrader", timeout=60).status_code == 403
    assert session.get(f"{stack.url}/services/{course}/api/contents/source", timeout=60).status_code == 403
