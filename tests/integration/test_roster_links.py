"""The LMS's roster in the gradebook (NRPS) and links made in the LMS (Deep Linking), against the
strict dev platform on the shared stack.

Roster: 120 members over three pages land in the course's gradebook with their names before any
student launches, and a later launch lands on its roster row. Deep linking: an instructor's
request opens the picker, the LMS gets a link to ps1 with a line item, a student's launch of
that link opens ps1, and its grades land on that line item; a student's, a forged and a
replayed request are refused.
"""

from __future__ import annotations

import html
import json
import re

import jwt
import requests

from coursehub.devlms.launcher import LaunchSpec, parse_form
from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem
from harness import lti13_capture, lti13_login, post_lti13_callback, unique, wait_until
from test_graders import formgrader_ready, open_course
from test_grades import ASSIGNMENT, MAX_SCORE, dev_api, grade_by_hand, lms_gradebook, send, spawn
from test_nbgrader_lifecycle import Browser, author_and_release, work_and_submit

V2 = "http://purl.imsglobal.org/vocab/lis/v2/membership#"


def roster_of(n: int) -> list[dict]:
    members = [{"user_id": f"r{i:04d}", "roles": [V2 + "Learner"], "status": "Active",
                "given_name": f"Given{i}", "family_name": f"Family{i}", "email": f"r{i}@example.edu"}
               for i in range(n - 2)]
    members += [{"user_id": "r-inactive", "roles": [V2 + "Learner"], "status": "Inactive"},
                {"user_id": "r-teacher", "roles": [V2 + "Instructor"], "name": "Prof Roster"}]
    return members


def instructor_course(stack, **spec_kwargs):
    label = unique("nr")
    spec = LaunchSpec(user=unique("prof"), role="instructor", course=label, services=True, **spec_kwargs)
    session, response = lti13_login(stack, spec)
    course = open_course(stack, session, response)
    wait_until(lambda: formgrader_ready(stack, session, course), 120, 1, "the formgrader")
    return label, course, session


def roster_page(stack, session, course) -> dict:
    answer = session.get(f"{stack.url}/hub/coursehub/course/{course}/roster", params={"format": "json"}, timeout=60)
    assert answer.status_code == 200, answer.text[:1000]
    return answer.json()


def test_a_roster_of_120_over_three_pages_lands_in_the_gradebook_before_anyone_launches(stack):
    label = unique("nr")
    context = f"ctx-{label}"
    assert dev_api(stack, "PUT", "roster", json={"context": context, "members": roster_of(120)}).status_code == 200
    # The instructor's launch carries the NRPS claim: the sync runs in the background.
    spec = LaunchSpec(user=unique("prof"), role="instructor", course=label, services=True)
    session, response = lti13_login(stack, spec)
    course = open_course(stack, session, response)
    synced = wait_until(lambda: (roster_page(stack, session, course)["last_sync"] or {}).get("status") == "ok"
                        and roster_page(stack, session, course), 120, 1, "the roster sync")
    assert "in 3 page(s)" in synced["last_sync"]["detail"], synced["last_sync"]
    members = {m["lms_user_id"]: m for m in synced["members"]}
    assert {f"r{i:04d}" for i in range(118)} <= set(members)
    assert members["r-inactive"]["status"] == "inactive" and members["r-teacher"]["role"] == "instructor"
    assert members["r0007"]["name"] == "Given7 Family7" and members["r0007"]["launched"] == ""
    wait_until(lambda: formgrader_ready(stack, session, course), 120, 1, "the formgrader")
    fg = Browser(stack, session, f"/services/{course}/")
    assert fg.enter().status_code == 200
    # The gradebook (formgrader's own API) lists the learners, with names, before any launch.
    wait_until(lambda: len(fg.get("formgrader/api/students").json()) >= 119, 60, 1, "learners in the gradebook")
    students = {s["id"]: s for s in fg.get("formgrader/api/students").json()}
    row = students[members["r0007"]["username"]]
    assert (row["first_name"], row["last_name"], row["email"]) == ("Given7", "Family7", "r7@example.edu")
    # A roster student's launch lands on their own row: no second student.
    student_session, response = lti13_login(stack, LaunchSpec(user="r0007", role="student", course=label, services=True))
    open_course(stack, student_session, response)
    after = fg.get("formgrader/api/students").json()
    assert len(after) == len(students)
    assert roster_page(stack, session, course) and \
        {m["lms_user_id"]: m for m in roster_page(stack, session, course)["members"]}["r0007"]["launched"]
    # Someone the LMS no longer lists is marked, never deleted.
    assert dev_api(stack, "PUT", "roster", json={"context": context, "members": roster_of(120)[1:]}).status_code == 200
    page = session.get(f"{stack.url}/hub/coursehub/course/{course}/roster", timeout=60)
    token = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))
    session.post(f"{stack.url}/hub/coursehub/course/{course}/roster/sync", data={"_xsrf": token}, timeout=120)
    assert page.status_code == 200
    assert {m["lms_user_id"]: m for m in roster_page(stack, session, course)["members"]}["r0000"]["status"] == "left"


def deep_link_request(stack, label: str, role: str = "instructor"):
    """An LtiDeepLinkingRequest from the dev LMS: (session, the callback's answer)."""
    return lti13_login(stack, LaunchSpec(user=unique("dl"), role=role, course=label, services=True,
                                         deep_linking=True))


def test_a_deep_link_to_ps1_opens_it_for_students_and_its_grades_land_on_its_line_item(stack):
    label, course, session = instructor_course(stack)
    fg = Browser(stack, session, f"/services/{course}/")
    assert fg.enter().status_code == 200
    author_and_release(fg, ASSIGNMENT)
    dl_session, answer = deep_link_request(stack, label)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/coursehub/deep-link/{course}")
    picker = dl_session.get(stack.url + answer.headers["Location"], timeout=120)
    assert picker.status_code == 200 and f'value="{ASSIGNMENT}"' in picker.text, picker.text[:2000]
    token = next(c.value for c in dl_session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))
    posted = dl_session.post(stack.url + answer.headers["Location"], timeout=60,
                             data={"_xsrf": token, "assignment": ASSIGNMENT, "title": "Problem set 1",
                                   "interface": "lab"})
    assert posted.status_code == 200, posted.text[:2000]
    action, fields = parse_form(posted.text)
    claims = jwt.decode(fields["JWT"], options={"verify_signature": False})
    item = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0]
    assert item["custom"] == {"assignment": ASSIGNMENT, "interface": "lab"}
    assert item["lineItem"] == {"scoreMaximum": MAX_SCORE, "label": "Problem set 1",
                                "resourceId": f"coursehub:{course}:{ASSIGNMENT}"}
    # The browser brings the answer to the LMS, which checks it strictly and makes the link.
    made = requests.post(action, data=fields, timeout=60)
    assert made.status_code == 200, made.text[:2000]
    created = json.loads(html.unescape(re.search(r"<pre id='created'>(.*?)</pre>", made.text, re.S).group(1)))
    # The same answer again is refused (nonce), and so is a second answer to the request.
    assert requests.post(action, data=fields, timeout=60).status_code == 400
    assert dl_session.post(stack.url + answer.headers["Location"], data={"_xsrf": token, "assignment": ASSIGNMENT},
                           timeout=60).status_code == 400
    # A student opens the new link: it lands in ps1.
    spec = LaunchSpec(user=unique("stu"), role="student", course=label, services=True,
                      resource_link_id=created["link"], custom=created["custom"], lineitem=created["lineitem"])
    name, _, server = spawn(stack, *lti13_login(stack, spec))
    assert server.get(f"api/contents/{course}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb").status_code == 200
    again, answer = lti13_login(stack, spec)  # the running server: the launch goes straight to ps1
    opened = again.get(stack.url + answer.headers["Location"], allow_redirects=False, timeout=60)
    assert opened.headers["Location"].endswith(f"/user/{name}/{course}/lab/tree/{course}/{ASSIGNMENT}"), opened.headers
    work_and_submit(server, course, correct=True, assignment=ASSIGNMENT)
    fg.ok("POST", f"formgrader/api/assignment/{ASSIGNMENT}/collect")
    fg.ok("POST", f"formgrader/api/submission/{ASSIGNMENT}/{name}/autograde")
    grade_by_hand(fg, {name})
    assert "sent=1" in send(stack, course, session).headers["Location"]
    book = lms_gradebook(stack, f"ctx-{label}")
    assert [i["id"] for i in book["lineitems"]] == [created["lineitem_url"]], book["lineitems"]
    assert [(s["lineitem"], s["userId"], s["scoreGiven"]) for s in book["scores"]] == \
        [(created["lineitem_url"], spec.user, MAX_SCORE)]


def test_a_students_forged_or_replayed_deep_linking_request_is_refused(stack):
    label, course, _ = instructor_course(stack)
    _, answer = deep_link_request(stack, label, role="student")
    assert answer.status_code == 403 and "Only the course's instructors" in html.unescape(answer.text)
    # Replayed: the same callback POST a second time.
    captured = lti13_capture(stack, LaunchSpec(user=unique("dl"), role="instructor", course=label, deep_linking=True))
    assert post_lti13_callback(captured).status_code == 302
    assert post_lti13_callback(captured, session=requests.Session()).status_code in (400, 401)
    # Forged: signed by a key that is not the LMS's.
    captured = lti13_capture(stack, LaunchSpec(user=unique("dl"), role="instructor", course=label, deep_linking=True))
    claims = jwt.decode(captured.fields["id_token"], options={"verify_signature": False})
    forger = SigningKey.from_pem(generate_private_key_pem())
    forged = jwt.encode(claims, forger.private_key, algorithm="RS256", headers={"kid": jwt.get_unverified_header(
        captured.fields["id_token"])["kid"]})
    assert post_lti13_callback(captured, forged).status_code == 401
