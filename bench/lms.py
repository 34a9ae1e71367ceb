"""The LMS both ways, timed against the strict dev platform of the bench stack:

- grades of a class of 50 sent to the LMS (AGS), with the LMS answering each score in 50 ms as
  a remote one would: ours (8 sends in flight) beside the same send one at a time, same run;
  and the LMS requests it took per student;
- a roster of 120 and of 1,000 members read (NRPS, 50 per page);
- dynamic registration: from the LMS opening the pasted URL to a working launch.

The class is written straight into the course's nbgrader gradebook (50 autograded
submissions): real student servers would measure server starts, which `launch` does.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

import harness
import requests
from coursehub.core.devplatform import REGISTRATION_ISSUER
from coursehub.devlms.launcher import LaunchSpec
from coursehub.devlms.registration import configuration_url, mint_registration_token

from .stack import progress

V2 = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
CLASS = 50
LMS_DELAY = 0.05


def dev_api(stack, method: str, path: str, **kwargs):
    headers = {"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"}
    return requests.request(method, f"{stack.url}/hub/coursehub/dev/{path}", headers=headers, timeout=60, **kwargs)


def members(n: int, prefix: str) -> list[dict]:
    return [{"user_id": f"{prefix}{i:05d}", "roles": [V2 + "Learner"], "given_name": f"G{i}",
             "family_name": f"F{i}", "email": f"{prefix}{i}@example.edu"} for i in range(n)]


def hub(stack, *args: str, timeout: float = 600):
    return stack.compose("exec", "-T", "hub", "coursehub", *args, check=False, timeout=timeout)


def staffed_course(stack, label: str) -> str:
    """A provisioned LTI 1.3 course whose instructor launch carried AGS and NRPS."""
    session, response = harness.lti13_login(stack, LaunchSpec(user=harness.unique("prof"), role="instructor",
                                                               course=label, services=True))
    location = response.headers["Location"]
    course = location.rstrip("/").rsplit("/", 1)[-1]
    session.get(stack.url + location, allow_redirects=False, timeout=300)
    harness.wait_until(lambda: session.get(f"{stack.url}/services/{course}/formgrader/api/status", timeout=30)
                       .json().get("status") is True, 180, 1, "the formgrader")
    return course


def sql(stack, database: str, statements: str) -> None:
    user = stack.env.get("POSTGRES_USER", "coursehub")
    result = stack.compose("exec", "-T", "postgres", "psql", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", database,
                           "-c", statements, check=False)
    assert result.returncode == 0, result.stderr


def fill_gradebook(stack, course: str, usernames: list[str]) -> None:
    """One assignment of 3 points and one autograded submission per student, as nbgrader writes them."""
    rows = ["INSERT INTO assignment (id, name, course_id) SELECT 'a1', 'ps1', id FROM course LIMIT 1",
            "INSERT INTO notebook (id, name, assignment_id) VALUES ('n1', 'ps1', 'a1')",
            "INSERT INTO base_cell (id, name, notebook_id, type) VALUES ('c1', 'test', 'n1', 'GradeCell')",
            "INSERT INTO grade_cells (id, max_score, cell_type) VALUES ('c1', 3, 'code')"]
    for i, name in enumerate(usernames):
        rows += [f"INSERT INTO submitted_assignment (id, assignment_id, student_id) VALUES ('s{i}', 'a1', '{name}')",
                 f"INSERT INTO submitted_notebook (id, assignment_id, notebook_id, flagged) VALUES ('sn{i}', 's{i}', 'n1', false)",
                 f"INSERT INTO grade (id, notebook_id, cell_id, auto_score, needs_manual_grade) "
                 f"VALUES ('g{i}', 'sn{i}', 'c1', {i % 4}, false)"]
    sql(stack, "gradebook_" + course.replace("-", "_"), ";\n".join(rows))


def timed(stack, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    result = hub(stack, *args)
    return time.monotonic() - started, result.stdout + result.stderr


def rows(bench) -> list[tuple]:
    stack = getattr(bench, "stack", bench)
    out = []
    # -- grades of a class of 50 --------------------------------------------------------------
    label = harness.unique("lms")
    course = staffed_course(stack, label)
    dev_api(stack, "PUT", "roster", json={"context": f"ctx-{label}", "members": members(CLASS, "b")})
    seconds, text = timed(stack, "roster", "sync", course)
    progress(f"roster of {CLASS}: {seconds:.1f} s ({text.strip()})")
    learners = sql_learners(stack, course)
    fill_gradebook(stack, course, learners)
    dev_api(stack, "POST", "faults", json={"endpoint": "scores", "mode": f"slow:{LMS_DELAY}", "count": 10 * CLASS})
    ours, text = timed(stack, "grades", "send", course, "ps1")
    progress(f"send with 8 in flight: {ours:.1f} s ({text.splitlines()[-1] if text else ''})")
    sql(stack, "jupyterhub", f"DELETE FROM coursehub_grade_sends WHERE course_id = '{course}'")
    book = dev_api(stack, "GET", "gradebook", params={"context": f"ctx-{label}"}).json()
    requests_per_student = (len(book["scores"]) + len(book["lineitems"]) * 2 + 1) / CLASS
    sequential, _ = timed(stack, "grades", "send", course, "ps1", "--concurrency", "1")
    out.append((f"grades of a class of {CLASS} to the LMS (AGS, LMS answers a score in {LMS_DELAY * 1000:.0f} ms)",
                f"{ours:.1f} s ({ours / sequential:.2f}x)", f"one at a time: {sequential:.1f} s", "-", "-"))
    out.append(("LMS requests per student sent", f"{requests_per_student:.2f}",
                "1 score each + token, line item lookup and creation once", "-", "-"))
    dev_api(stack, "POST", "faults", json={"endpoint": "scores", "mode": "slow:0", "count": 0})
    # -- rosters --------------------------------------------------------------------------------
    for size in (120, 1000):
        dev_api(stack, "PUT", "roster", json={"context": f"ctx-{label}", "members": members(size, f"m{size}-")})
        seconds, text = timed(stack, "roster", "sync", course)
        out.append((f"roster sync, {size} members (NRPS, 50 per page)", f"{seconds:.1f} s",
                    text.strip().splitlines()[-1] if text.strip() else "-", "-", "-"))
    # -- dynamic registration -------------------------------------------------------------------
    secret = re.search(r"secret=(\S+)", hub(stack, "registration-url", "--new").stdout).group(1)
    started = time.monotonic()
    query = {"secret": secret, "openid_configuration": configuration_url(),
             "registration_token": mint_registration_token(harness.dev_key(stack))}
    page = stack.session.get(f"{stack.url}/hub/lti13/register?{urlencode(query)}", timeout=60)
    client = re.search(r"<th>Client id</th><td>([^<]+)</td>", page.text).group(1)
    deployment = re.search(r"<th>Deployment</th><td>([^<]+)</td>", page.text).group(1)
    session, answer = harness.lti13_login(stack, LaunchSpec(user=harness.unique("dr"), course=harness.unique("drc")),
                                          issuer=REGISTRATION_ISSUER, client_id=client, deployment_id=deployment)
    works = answer.status_code == 302 and "jupyterhub-hub-login" in session.cookies
    out.append(("dynamic registration: URL opened by the LMS -> first launch logged in",
                f"{time.monotonic() - started:.2f} s {'ok' if works else 'FAILED'}",
                "values copied by hand: 0 (manual registration: 5)", "-", "-"))
    return out


def sql_learners(stack, course: str) -> list[str]:
    user = stack.env.get("POSTGRES_USER", "coursehub")
    result = stack.compose("exec", "-T", "postgres", "psql", "-tA", "-U", user, "-d", "jupyterhub", "-c",
                           f"SELECT username FROM coursehub_lti_members WHERE course_id = '{course}' "
                           "AND role = 'student' ORDER BY username", check=False)
    return [line for line in result.stdout.split() if line][:CLASS]
