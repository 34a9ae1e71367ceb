"""LMS launches against the running stack, exactly as an LMS and a browser send them.

LTI 1.1: a signed POST to /hub/lti/launch. LTI 1.3: the real three requests (login
initiation -> the hub's built-in dev platform authorize endpoint -> form POST to the
callback), or, for refusals, an id_token crafted here and posted with the state and cookies of
a real initiation. A login counts only when the hub's login cookie is set (DESIGN 9).

The helpers at the top (``lti11_signed`` / ``post_lti11``, ``lti13_capture`` /
``post_lti13_callback``) are meant for other tests too, e.g. replay after a hub restart.
"""

from __future__ import annotations

import html
import time
import uuid
from urllib.parse import parse_qs

import pytest
import requests

from coursehub.core import devplatform
from coursehub.devlms import oidc
from coursehub.devlms.launcher import CLAIM, LaunchSpec, lti11_launch, lti13_login_url, lti13_message_claims
from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem
from harness import Captured13, dev_key, lti13_begin, lti13_capture, lti13_login, post_lti13_callback

LOGIN_COOKIE = "jupyterhub-hub-login"
TIMEOUT = 30


# -- helpers ------------------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def consumer(stack) -> tuple[str, str]:
    key, _, secret = stack.env["COURSEHUB_LTI11_CONSUMERS"].split(",")[0].partition(":")
    return key, secret


def lti11_signed(stack, spec: LaunchSpec, **sign_kwargs) -> tuple[str, dict[str, str]]:
    """(url, fields) of a signed LTI 1.1 launch; post it within 30 s (timestamp window)."""
    key, secret = consumer(stack)
    return lti11_launch(stack.url, spec, key, secret, **sign_kwargs)


def post_lti11(url: str, fields: dict[str, str], session: requests.Session | None = None):
    session = session or requests.Session()
    return session, session.post(url, data=fields, allow_redirects=False, timeout=TIMEOUT)


def crafted_token(stack, captured: Captured13, spec: LaunchSpec, *, key: SigningKey | None = None,
                  kid: str | None = None, **overrides) -> str:
    """An id_token for ``captured``'s login, built here; ``overrides`` replace claims (None drops)."""
    message = lti13_message_claims(spec, stack.url + "/hub/")
    claims = oidc.id_token_claims(message, nonce=captured.nonce)
    for name, value in overrides.items():
        name = {"deployment_id": CLAIM + "deployment_id"}.get(name, name)
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    signer = key or dev_key(stack)
    import jwt

    return jwt.encode(claims, signer.private_key, algorithm="RS256", headers={"kid": kid or signer.kid})


def _page(response: requests.Response) -> str:
    return html.unescape(response.text)


def hub_name(session: requests.Session, stack) -> str:
    return session.get(f"{stack.url}/hub/api/user", timeout=TIMEOUT).json()["name"]


def groups_of(stack, name: str) -> list[str]:
    response = stack.api("GET", f"/users/{name}")
    assert response.status_code == 200, response.text
    return sorted(response.json()["groups"])


def _hub_logs(stack) -> str:
    try:
        return stack.logs("hub", tail=3000)
    except TypeError:
        return stack.logs("hub")


def refusal_count(stack, reason: str) -> int:
    return _hub_logs(stack).count(f"coursehub.refused kind=lti reason={reason} ")


def assert_refused(stack, response: requests.Response, status: int, words: str, reason: str, before: int):
    """Status, a human message on the error page, one more `coursehub.refused kind=lti` log line."""
    assert response.status_code == status, f"{response.status_code}: {_page(response)[:2000]}"
    assert words.lower() in _page(response).lower(), _page(response)[:3000]
    assert "Traceback" not in response.text
    assert LOGIN_COOKIE not in response.cookies
    deadline = time.monotonic() + 15
    while refusal_count(stack, reason) <= before:
        assert time.monotonic() < deadline, f"no log line for reason={reason}"
        time.sleep(0.5)


@pytest.fixture
def course() -> str:
    return unique("C")


# -- successful launches ------------------------------------------------------------------
@pytest.mark.parametrize("role,group", [("student", "nbgrader"), ("instructor", "formgrade"), ("ta", "formgrade")])
def test_lti11_launch_logs_in_with_course_group(stack, course, role, group):
    url, fields = lti11_signed(stack, LaunchSpec(user=unique("u"), role=role, course=course))
    session, response = post_lti11(url, fields)
    assert response.status_code == 302, _page(response)[:2000]
    location = response.headers["Location"]
    assert "/hub/coursehub/open/" in location
    course_id = location.rstrip("/").rsplit("/", 1)[-1]
    assert course_id == course.lower()
    assert LOGIN_COOKIE in session.cookies
    assert groups_of(stack, hub_name(session, stack)) == [f"{group}-{course_id}"]


@pytest.mark.parametrize("role,group", [("student", "nbgrader"), ("instructor", "formgrade")])
def test_lti13_launch_logs_in_with_course_group(stack, course, role, group):
    session, response = lti13_login(stack, LaunchSpec(user=unique("u"), role=role, course=course))
    assert response.status_code == 302, _page(response)[:2000]
    assert "/hub/coursehub/open/" in response.headers["Location"]
    course_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert course_id.startswith(course.lower())
    assert LOGIN_COOKIE in session.cookies
    assert groups_of(stack, hub_name(session, stack)) == [f"{group}-{course_id}"]


def test_lti13_login_initiation_by_post_works(stack, course):
    url = lti13_login_url(stack.url, dev_key(stack), LaunchSpec(user=unique("u"), course=course))
    base, _, query = url.partition("?")
    fields = {k: v[0] for k, v in parse_qs(query).items()}
    response = requests.post(base, data=fields, allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302, _page(response)[:2000]
    assert devplatform.AUTHORIZE_PATH in response.headers["Location"]


def test_student_in_two_courses_keeps_both_groups(stack):
    user, first, second = unique("u"), unique("C"), unique("C")
    for label in (first, second):
        session, response = post_lti11(*lti11_signed(stack, LaunchSpec(user=user, course=label)))
        assert response.status_code == 302
    assert groups_of(stack, hub_name(session, stack)) == sorted(
        [f"nbgrader-{first.lower()}", f"nbgrader-{second.lower()}"]
    )


def test_relaunch_with_another_role_moves_between_the_course_groups(stack):
    user, course, other = unique("u"), unique("C"), unique("C")
    post_lti11(*lti11_signed(stack, LaunchSpec(user=user, course=other)))
    for role, group in (("student", "nbgrader"), ("ta", "formgrade"), ("student", "nbgrader")):
        session, response = post_lti11(*lti11_signed(stack, LaunchSpec(user=user, role=role, course=course)))
        assert response.status_code == 302
        assert groups_of(stack, hub_name(session, stack)) == sorted(
            [f"{group}-{course.lower()}", f"nbgrader-{other.lower()}"]
        )


def test_a_class_launching_a_new_course_at_once_lands_in_its_groups(stack):
    """20 first launches of a new LMS course at the same moment (new users, both LTI versions,
    both roles): the hub creates each course group once, in its one database session shared
    by all these requests, and every user is in the group of its role and no other."""
    from concurrent.futures import ThreadPoolExecutor

    course = unique("C")
    specs = [LaunchSpec(user=unique("u"), course=course, role="instructor" if i % 5 == 0 else "student")
             for i in range(20)]

    def launch(indexed):
        index, spec = indexed
        session, response = (lti13_login(stack, spec) if index % 2 else post_lti11(*lti11_signed(stack, spec)))
        return spec, session, response

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(launch, enumerate(specs)))
    expected: dict[str, set[str]] = {}  # "{group}-{course id}" -> hub users
    for spec, session, response in results:
        assert response.status_code == 302, _page(response)[:2000]
        course_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        group = f"{'formgrade' if spec.role == 'instructor' else 'nbgrader'}-{course_id}"
        name = hub_name(session, stack)
        assert groups_of(stack, name) == [group], spec
        expected.setdefault(group, set()).add(name)
    # The LMS course as seen through LTI 1.1 and through the dev platform's 1.3: two courses.
    assert len(expected) == 4, expected.keys()
    for group, names in expected.items():
        assert set(stack.api("GET", f"/groups/{group}").json()["users"]) == names


def test_custom_next_within_the_hub_is_followed_and_foreign_one_ignored(stack, course):
    spec = LaunchSpec(user=unique("u"), course=course, custom={"next": "/hub/home"})
    _, response = post_lti11(*lti11_signed(stack, spec))
    assert response.headers["Location"] == "/hub/home"
    spec = LaunchSpec(user=unique("u"), course=course, custom={"next": "https://evil.example/"})
    _, response = post_lti11(*lti11_signed(stack, spec))
    assert "evil" not in response.headers["Location"]
    assert "/hub/coursehub/open/" in response.headers["Location"]


def test_tool_and_dev_jwks_are_public(stack):
    for path in ("/hub/lti13/jwks", "/hub/coursehub/dev/jwks"):
        response = requests.get(stack.url + path, timeout=TIMEOUT)
        assert response.status_code == 200
        keys = response.json()["keys"]
        assert keys and all(k["kty"] == "RSA" and k["kid"] and "d" not in k for k in keys)


# -- LTI 1.1 refusals ---------------------------------------------------------------------
def test_lti11_bad_signature(stack, course):
    url, fields = lti11_signed(stack, LaunchSpec(user=unique("u"), course=course))
    fields["roles"] = "Instructor"  # tampered after signing
    before = refusal_count(stack, "bad_signature")
    _, response = post_lti11(url, fields)
    assert_refused(stack, response, 401, "signature is invalid", "bad_signature", before)


def test_lti11_unknown_key(stack, course):
    url, fields = lti11_launch(stack.url, LaunchSpec(course=course), "not-a-key", "x" * 20)
    before = refusal_count(stack, "unknown_key")
    _, response = post_lti11(url, fields)
    assert_refused(stack, response, 401, "is not registered", "unknown_key", before)


def test_lti11_stale_timestamp(stack, course):
    url, fields = lti11_signed(stack, LaunchSpec(course=course), timestamp=int(time.time()) - 300)
    before = refusal_count(stack, "stale_timestamp")
    _, response = post_lti11(url, fields)
    assert_refused(stack, response, 401, "clocks", "stale_timestamp", before)


def test_lti11_replayed_nonce(stack, course):
    url, fields = lti11_signed(stack, LaunchSpec(user=unique("u"), course=course))
    _, first = post_lti11(url, fields)
    assert first.status_code == 302
    before = refusal_count(stack, "replayed_nonce")
    _, response = post_lti11(url, fields)
    assert_refused(stack, response, 401, "already used", "replayed_nonce", before)


def test_lti11_forged_request_does_not_burn_the_nonce(stack, course):
    nonce = uuid.uuid4().hex
    url, good = lti11_signed(stack, LaunchSpec(user=unique("u"), course=course), nonce=nonce)
    forged = dict(good, oauth_signature="AAAA" + good["oauth_signature"][4:])
    _, response = post_lti11(url, forged)
    assert response.status_code == 401
    session, response = post_lti11(url, good)
    assert response.status_code == 302 and LOGIN_COOKIE in session.cookies


@pytest.mark.parametrize("role,status,words", [
    ("urn:lti:instrole:ims/lis/Faculty", 403, "No usable role"),
    ("", 403, "No usable role"),
])
def test_lti11_no_usable_role(stack, course, role, status, words):
    url, fields = lti11_signed(stack, LaunchSpec(user=unique("u"), course=course, role=role))
    before = refusal_count(stack, "bad_launch")
    _, response = post_lti11(url, fields)
    assert_refused(stack, response, status, words, "bad_launch", before)


def test_lti11_no_course(stack):
    from coursehub.devlms.launcher import lti11_fields, sign_lti11

    fields = lti11_fields(LaunchSpec(user=unique("u")))
    del fields["context_id"]
    key, secret = consumer(stack)
    url = stack.url + "/hub/lti/launch"
    before = refusal_count(stack, "bad_launch")
    _, response = post_lti11(url, sign_lti11(url, fields, key, secret))
    assert_refused(stack, response, 400, "outside a course", "bad_launch", before)


def test_lti11_no_user_id(stack, course):
    from coursehub.devlms.launcher import lti11_fields, sign_lti11

    fields = lti11_fields(LaunchSpec(course=course))
    fields["user_id"] = ""
    key, secret = consumer(stack)
    url = stack.url + "/hub/lti/launch"
    before = refusal_count(stack, "bad_request")
    _, response = post_lti11(url, sign_lti11(url, fields, key, secret))
    assert_refused(stack, response, 400, "user_id", "bad_request", before)


# -- LTI 1.3 refusals ---------------------------------------------------------------------
def test_lti13_unknown_issuer_at_initiation(stack, course):
    before = refusal_count(stack, "unknown_issuer")
    _, response = lti13_begin(stack, LaunchSpec(course=course), issuer="https://unknown-lms.example")
    assert_refused(stack, response, 400, "is not registered", "unknown_issuer", before)


@pytest.mark.parametrize("overrides,key_kind,status,words,reason", [
    ({}, "other_key_same_kid", 401, "signature does not match", "bad_signature"),
    ({}, "unknown_kid", 401, "does not publish", "unknown_kid"),
    ({"iss": "https://unknown-lms.example"}, None, 401, "not a registered LMS", "wrong_issuer"),
    ({"aud": "someone-else", "azp": "someone-else"}, None, 401, "client", "wrong_audience"),
    ({"deployment_id": "999"}, None, 403, "of this LMS is not registered", "wrong_deployment"),
    ({"exp": int(time.time()) - 60}, None, 401, "expired", "expired_token"),
    ({"nonce": None}, None, 400, "carries no nonce", "missing_nonce"),
    ({"nonce": "0" * 64}, None, 401, "does not belong to this login", "nonce_mismatch"),
])
def test_lti13_bad_id_token(stack, course, overrides, key_kind, status, words, reason):
    spec = LaunchSpec(user=unique("u"), course=course)
    captured = lti13_capture(stack, spec)
    key, kid = None, None
    if key_kind == "other_key_same_kid":
        key, kid = SigningKey.from_pem(generate_private_key_pem()), dev_key(stack).kid
    elif key_kind == "unknown_kid":
        key = SigningKey.from_pem(generate_private_key_pem())
    token = crafted_token(stack, captured, spec, key=key, kid=kid, **overrides)
    before = refusal_count(stack, reason)
    response = post_lti13_callback(captured, token)
    assert_refused(stack, response, status, words, reason, before)


def test_lti13_deployment_refused_at_initiation(stack, course):
    before = refusal_count(stack, "unknown_deployment")
    _, response = lti13_begin(stack, LaunchSpec(course=course), deployment_id="999")
    assert_refused(stack, response, 403, "Deployment", "unknown_deployment", before)


def test_lti13_replayed_callback_with_its_cookies(stack, course):
    captured = lti13_capture(stack, LaunchSpec(user=unique("u"), course=course))
    cookies = captured.session.cookies.copy()
    first = post_lti13_callback(captured)
    assert first.status_code == 302 and LOGIN_COOKIE in captured.session.cookies
    replay = requests.Session()
    replay.cookies.update(cookies)  # the very cookies the first POST carried
    before = refusal_count(stack, "replayed_state")
    response = post_lti13_callback(captured, session=replay)
    assert_refused(stack, response, 400, "already used", "replayed_state", before)


def test_lti13_used_id_token_with_a_fresh_login(stack, course):
    spec = LaunchSpec(user=unique("u"), course=course)
    first = lti13_capture(stack, spec)
    assert post_lti13_callback(first).status_code == 302
    second = lti13_capture(stack, spec)  # new state + cookies, old id_token
    before = refusal_count(stack, "nonce_mismatch")
    response = post_lti13_callback(second, first.fields["id_token"])
    assert_refused(stack, response, 401, "does not belong to this login", "nonce_mismatch", before)


def test_lti13_callback_without_cookies(stack, course):
    captured = lti13_capture(stack, LaunchSpec(user=unique("u"), course=course))
    before = refusal_count(stack, "state_cookie")
    response = post_lti13_callback(captured, session=requests.Session())
    assert_refused(stack, response, 400, "login cookie", "state_cookie", before)


def test_lti13_unknown_state(stack, course):
    captured = lti13_capture(stack, LaunchSpec(user=unique("u"), course=course))
    import base64
    import json

    forged = base64.urlsafe_b64encode(json.dumps({"state_id": uuid.uuid4().hex, "next_url": None}).encode()).decode()
    captured.fields["state"] = forged
    captured.session.cookies.clear()
    before = refusal_count(stack, "state_cookie")
    response = post_lti13_callback(captured)
    assert_refused(stack, response, 400, "login cookie", "state_cookie", before)


def test_lti13_no_usable_role(stack, course):
    spec = LaunchSpec(user=unique("u"), course=course, role="http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty")
    before = refusal_count(stack, "bad_launch")
    _, response = lti13_login(stack, spec)
    assert_refused(stack, response, 403, "No usable role", "bad_launch", before)


def test_lti13_no_course(stack):
    spec = LaunchSpec(user=unique("u"))
    captured = lti13_capture(stack, spec)
    token = crafted_token(stack, captured, spec, **{CLAIM + "context": None})
    before = refusal_count(stack, "bad_launch")
    response = post_lti13_callback(captured, token)
    assert_refused(stack, response, 400, "outside a course", "bad_launch", before)
