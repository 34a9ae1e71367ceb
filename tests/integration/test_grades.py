"""Grades back to the LMS, end to end on the shared stack: an nbgrader assignment authored,
released, submitted by real student servers, autograded and graded by hand, then sent from the
course page - LTI 1.3 students through AGS, LTI 1.1 students through Basic Outcomes - into the
strict emulated LMS's gradebook, which the test reads back.

One LTI 1.3 course and one LTI 1.1 course (an LMS course belongs to one platform); the module
builds both once and each test goes on from there.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest
import requests

from coursehub.devlms.launcher import LaunchSpec
from harness import lti11_login, lti13_login, unique, wait_until
from test_graders import formgrader_ready, open_course
from test_nbgrader_lifecycle import Browser, author_and_release, work_and_submit

ASSIGNMENT = "ps1"
MAX_SCORE = 3


@dataclass
class Course:
    label: str
    course: str
    context: str
    staff: requests.Session
    fg: Browser
    students: dict  # hub name -> (lms user id, right answer?)


def dev_api(stack, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"}
    return requests.request(method, f"{stack.url}/hub/coursehub/dev/{path}", headers=headers, timeout=30, **kwargs)


def lms_gradebook(stack, context: str) -> dict:
    answer = dev_api(stack, "GET", "gradebook", params={"context": context})
    assert answer.status_code == 200, answer.text
    return answer.json()


def login(stack, version: str, spec: LaunchSpec):
    if version == "1.3":
        return lti13_login(stack, spec)
    fields = {k: v for k, v in spec.__dict__.items()}
    return lti11_login(stack, **fields)


def spawn(stack, session, response) -> tuple[str, str, Browser]:
    course = open_course(stack, session, response)
    name = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    assert stack.api("POST", f"/users/{name}/servers/{course}").status_code in (201, 202)
    wait_until(lambda: stack.api("GET", f"/users/{name}").json()["servers"].get(course, {}).get("ready"),
               180, 1, f"{name}'s server", logs=lambda: stack.logs("hub", 60))
    server = Browser(stack, session, f"/user/{name}/{course}/")
    assert server.enter().status_code == 200
    return name, course, server


def grade_by_hand(fg: Browser, students) -> None:
    """The instructor's manual grading: 1 point for the written answer of every submission."""
    for submission in fg.get(f"formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}").json():
        if submission["student"] not in students:
            continue
        for grade in fg.get("formgrader/api/grades", params={"submission_id": submission["id"]}).json():
            if grade["name"] == "explain":
                fg.ok("PUT", f"formgrader/api/grade/{grade['id']}", json={"manual_score": 1})


def build(stack, version: str, linked: dict) -> Course:
    """A course of ``version``: its instructor, ps1 released, one student per entry of ``linked``
    (name -> (opens ps1's link?, right answer?)) submitted, collected, autograded, graded."""
    label = unique(f"g{version.replace('.', '')}")
    context = f"ctx-{label}"
    session, response = login(stack, version, LaunchSpec(user=unique("prof"), role="instructor", course=label,
                                                          services=True))
    course = open_course(stack, session, response)
    wait_until(lambda: formgrader_ready(stack, session, course), 120, 1, "the formgrader")
    fg = Browser(stack, session, f"/services/{course}/")
    assert fg.enter().status_code == 200
    author_and_release(fg, ASSIGNMENT)
    students = {}
    for user, (on_link, right) in linked.items():
        # A link per assignment: the LMS gives LTI 1.1 grade slots per link (custom assignment=ps1).
        custom = {"assignment": ASSIGNMENT} if on_link else {}
        spec = LaunchSpec(user=user, role="student", course=label, custom=custom, services=True,
                          resource_link_id=f"link-{ASSIGNMENT}" if on_link else "link-home")
        name, _, server = spawn(stack, *login(stack, version, spec))
        work_and_submit(server, course, correct=right, assignment=ASSIGNMENT)
        students[name] = (user, right)
    fg.ok("POST", f"formgrader/api/assignment/{ASSIGNMENT}/collect")
    for name in students:
        fg.ok("POST", f"formgrader/api/submission/{ASSIGNMENT}/{name}/autograde")
    grade_by_hand(fg, students)
    return Course(label, course, context, session, fg, students)


@pytest.fixture(scope="module")
def courses(stack):
    return {
        "1.3": build(stack, "1.3", {unique("ann"): (True, True), unique("bob"): (True, False)}),
        "1.1": build(stack, "1.1", {unique("cat"): (True, True), unique("dan"): (False, True)}),
    }


def page(stack, c: Course, session=None) -> dict:
    answer = (session or c.staff).get(f"{stack.url}/hub/coursehub/course/{c.course}/grades",
                                      params={"assignment": ASSIGNMENT, "format": "json"}, timeout=60)
    assert answer.status_code == 200, answer.text[:1000]
    return answer.json()


def xsrf_of(stack, session) -> str:
    session.get(f"{stack.url}/hub/coursehub/course/none", timeout=30)  # any hub page sets _xsrf
    return next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))


def send(stack, course: str, session: requests.Session) -> requests.Response:
    """The course page's *Send grades to the LMS* button, pressed by ``session``'s user."""
    return session.post(f"{stack.url}/hub/coursehub/course/{course}/grades/{ASSIGNMENT}/send",
                        data={"_xsrf": xsrf_of(stack, session)}, allow_redirects=False, timeout=120)


def results(stack, c: Course) -> dict[str, dict]:
    return {row["student"]: row for row in page(stack, c)["students"]}


def test_a_click_puts_every_score_into_the_lms_in_both_versions(stack, courses):
    c13, c11 = courses["1.3"], courses["1.1"]
    for c in (c13, c11):
        answer = send(stack, c.course, c.staff)
        assert answer.status_code == 302 and "sent=" in answer.headers["Location"], answer.text[:500]
    book = lms_gradebook(stack, c13.context)
    (item,) = book["lineitems"]
    assert item["resourceId"] == f"coursehub:{c13.course}:{ASSIGNMENT}" and item["scoreMaximum"] == MAX_SCORE
    assert item["id"].endswith("?type_id=7")  # Moodle-style: the query survived
    given = {s["userId"]: (s["scoreGiven"], s["scoreMaximum"]) for s in book["scores"]}
    assert given == {user: (3 if right else 1, MAX_SCORE) for user, right in c13.students.values()}
    assert {r["status"] for r in results(stack, c13).values()} == {"sent"}
    # LTI 1.1: the student who opened ps1's link has a grade slot; the other cannot be graded.
    book = lms_gradebook(stack, c11.context)
    by_user = {o["user_id"]: o["score"] for o in book["outcomes"]}
    (on_link,) = [(n, u) for n, (u, _) in c11.students.items() if by_user.get(u) is not None]
    assert by_user == {on_link[1]: 1.0}
    rows = results(stack, c11)
    assert rows[on_link[0]]["status"] == "sent"
    (other,) = set(c11.students) - {on_link[0]}
    assert rows[other]["status"] == "not possible" and "never opened the assignment's link" in rows[other]["detail"]


def test_sending_again_changes_nothing(stack, courses):
    c = courses["1.3"]
    before = lms_gradebook(stack, c.context)
    answer = send(stack, c.course, c.staff)
    assert "sent=0" in answer.headers["Location"] and "skipped=2" in answer.headers["Location"]
    assert lms_gradebook(stack, c.context) == before


def regrade(c: Course, student: str, points: float) -> None:
    for submission in c.fg.get(f"formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}").json():
        if submission["student"] == student:
            for grade in c.fg.get("formgrader/api/grades", params={"submission_id": submission["id"]}).json():
                if grade["name"] == "explain":
                    c.fg.ok("PUT", f"formgrader/api/grade/{grade['id']}", json={"manual_score": points})


def test_an_lms_that_answers_500_is_reported_per_student_and_a_resend_succeeds(stack, courses):
    c = courses["1.3"]
    student = sorted(c.students)[0]
    regrade(c, student, 0.5)
    assert dev_api(stack, "POST", "faults", json={"endpoint": "scores", "mode": "500", "count": 1}).status_code == 200
    answer = send(stack, c.course, c.staff)
    assert "failed=1" in answer.headers["Location"], answer.headers["Location"]
    row = results(stack, c)[student]
    assert row["status"] == "failed" and "answered 500" in row["detail"]
    shown = html.unescape(c.staff.get(stack.url + answer.headers["Location"], timeout=60).text)
    assert re.search(r"1 failed", shown) and "send again to retry" in shown
    answer = send(stack, c.course, c.staff)
    assert "sent=1" in answer.headers["Location"] and "failed=0" in answer.headers["Location"]
    user = c.students[student][0]
    last = [s for s in lms_gradebook(stack, c.context)["scores"] if s["userId"] == user][-1]
    assert last["scoreGiven"] == pytest.approx((3 if c.students[student][1] else 1) - 0.5)


def test_a_token_the_lms_forgot_is_fetched_again(stack, courses):
    c = courses["1.3"]
    student = sorted(c.students)[1]
    regrade(c, student, 0.25)
    assert dev_api(stack, "POST", "faults", json={"revoke": True}).status_code == 200
    answer = send(stack, c.course, c.staff)
    assert "sent=1" in answer.headers["Location"] and "failed=0" in answer.headers["Location"], answer.headers


def test_students_can_neither_read_nor_send_grades(stack, courses):
    c = courses["1.3"]
    spec = LaunchSpec(user=unique("eve"), role="student", course=c.label, services=True)
    session, response = lti13_login(stack, spec)
    open_course(stack, session, response)
    assert session.get(f"{stack.url}/hub/coursehub/course/{c.course}/grades", timeout=30).status_code == 403
    assert send(stack, c.course, session).status_code == 403
    before = lms_gradebook(stack, c.context)
    assert lms_gradebook(stack, c.context) == before


def test_the_admin_sees_and_sends_the_same_from_the_shell(stack, courses):
    c = courses["1.1"]
    out = stack.run("make", "-s", "grades", f"COURSE={c.course}", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ASSIGNMENT in out.stdout and f"max {MAX_SCORE}" in out.stdout
    out = stack.run("make", "-s", "grades-send", f"COURSE={c.course}", f"ASSIGNMENT={ASSIGNMENT}", check=False)
    assert "0 failed" in out.stdout, out.stdout + out.stderr


def test_the_course_list_links_staff_to_the_course_page_and_students_only_to_their_server(stack, courses):
    c = courses["1.3"]
    staff = c.staff.get(f"{stack.url}/hub/coursehub/courses", timeout=30)
    assert staff.status_code == 200 and f"coursehub/course/{c.course}" in staff.text
    assert "coursehub/courses" in c.staff.get(f"{stack.url}/hub/home", timeout=30).text  # the hub's nav bar
    session, response = lti13_login(stack, LaunchSpec(user=unique("fay"), role="student", course=c.label))
    open_course(stack, session, response)
    mine = session.get(f"{stack.url}/hub/coursehub/courses", timeout=30)
    assert f"coursehub/open/{c.course}" in mine.text and f"coursehub/course/{c.course}" not in mine.text
