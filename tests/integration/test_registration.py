"""LTI 1.3 Dynamic Registration against the strict dev platform, on the shared stack: the admin
pastes one URL, the "LMS" opens it with its configuration and registration token, and a launch
from the new client works at once, with no hub restart. Forged or reused secrets, a lying
configuration and a failing LMS leave the registry as it was.

The LMS's side of the exchange is the dev platform (devlms/registration.py); the test plays the
admin (make registration-url) and the LMS's browser dialog (the GET of the tool's URL).
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from coursehub.core.devplatform import REGISTRATION_ISSUER
from coursehub.devlms.launcher import LaunchSpec
from coursehub.devlms.registration import configuration_url, mint_registration_token
from harness import dev_key, lti13_begin, lti13_login, unique

LOGIN_COOKIE = "jupyterhub-hub-login"


def text(response) -> str:
    return html.unescape(response.text)


def registration_secret(stack) -> str:
    out = stack.compose("exec", "-T", "hub", "coursehub", "registration-url", "--new").stdout
    match = re.search(r"/hub/lti13/register\?secret=(\S+)", out)
    assert match, out
    return match.group(1)


def platforms(stack) -> set[str]:
    """The registry as `coursehub platforms` prints it: one line per platform entry."""
    out = stack.compose("exec", "-T", "hub", "coursehub", "platforms").stdout
    return {line.strip() for line in out.splitlines() if line.strip().startswith("[")}


def register(stack, secret: str, token: str | None = None, **faults: str):
    """What the LMS does with the URL the admin pasted: opens it with its parameters."""
    query = {"secret": secret, "openid_configuration": configuration_url(**faults),
             "registration_token": token if token is not None else mint_registration_token(dev_key(stack))}
    return stack.session.get(f"{stack.url}/hub/lti13/register?{urlencode(query)}", timeout=60)


def registered_client(page: str) -> tuple[str, str]:
    """(client id, deployment) from the page the tool shows the admin."""
    client = re.search(r"<th>Client id</th><td>([^<]+)</td>", page).group(1)
    deployment = re.search(r"<th>Deployment</th><td>([^<]+)</td>", page).group(1)
    return client, deployment


def launch(stack, client: str, deployment: str, role: str = "student"):
    spec = LaunchSpec(user=unique("dr"), role=role, course=unique("drc"))
    return lti13_login(stack, spec, issuer=REGISTRATION_ISSUER, client_id=client, deployment_id=deployment)


def hub_started_at(stack) -> str:
    return stack.container("hub").attrs["State"]["StartedAt"]


def test_one_pasted_url_registers_the_lms_and_its_launches_work_without_a_restart(stack):
    started = hub_started_at(stack)
    page = register(stack, registration_secret(stack))
    assert page.status_code == 200, page.text[:2000]
    assert "org.imsglobal.lti.close" in page.text and "window.opener || window.parent" in page.text
    client, deployment = registered_client(page.text)
    assert any(client in line for line in platforms(stack))
    session, answer = launch(stack, client, deployment)
    assert answer.status_code == 302, answer.text[:2000]
    assert LOGIN_COOKIE in session.cookies and "/hub/coursehub/open/" in answer.headers["Location"]
    assert hub_started_at(stack) == started, "the hub restarted"


def test_a_registration_without_deployment_takes_the_first_launchs(stack):
    page = register(stack, registration_secret(stack), deployment="none")
    assert page.status_code == 200, page.text[:2000]
    client, shown = registered_client(page.text)
    assert shown == "set by the first launch"
    session, answer = launch(stack, client, "d-first")
    assert answer.status_code == 302 and LOGIN_COOKIE in session.cookies, answer.text[:2000]
    # Another deployment of the same client is refused already at login initiation.
    spec = LaunchSpec(user=unique("dr"), course=unique("drc"))
    _, refused = lti13_begin(stack, spec, issuer=REGISTRATION_ISSUER, client_id=client, deployment_id="d-other")
    assert refused.status_code == 403 and "Deployment 'd-other'" in text(refused)


def test_disable_enable_and_remove_take_effect_at_the_next_launch(stack):
    page = register(stack, registration_secret(stack))
    client, deployment = registered_client(page.text)

    def admin(*args):
        return stack.compose("exec", "-T", "hub", "coursehub", "platforms", *args, client)

    admin("disable")
    def begin():
        spec = LaunchSpec(user=unique("dr"), course=unique("drc"))
        return lti13_begin(stack, spec, issuer=REGISTRATION_ISSUER, client_id=client, deployment_id=deployment)[1]

    answer = begin()
    assert answer.status_code == 403 and "disabled" in text(answer)
    admin("enable")
    assert launch(stack, client, deployment)[1].status_code == 302
    admin("remove")
    answer = begin()
    assert answer.status_code == 400 and "not registered" in text(answer)


def test_bad_registrations_are_refused_and_change_nothing(stack):
    """Each refusal leaves the registry as it was and uses nothing up: after a lying or failing
    LMS, the same link still registers once the LMS behaves; a used link never does again."""
    secret = registration_secret(stack)
    before = platforms(stack)
    cases = [
        ("forged secret", {"secret": "forged-" + secret}, 403, "not valid here"),
        ("issuer mismatch", {"fault": "issuer"}, 400, "does not match the configuration's URL"),
        ("LMS answers 500", {"fault": "register500"}, 502, "answered 500"),
        ("forged registration token", {"token": "not-a-token"}, 502, "answered 401"),
    ]
    for case, how, status, words in cases:
        page = register(stack, how.pop("secret", secret), how.pop("token", None), **how)
        assert page.status_code == status and words in text(page), (case, page.status_code, text(page)[:3000])
    assert platforms(stack) == before
    assert register(stack, secret).status_code == 200
    registered = platforms(stack)
    page = register(stack, secret)  # the same link again
    assert page.status_code == 403 and "used already" in text(page)
    assert platforms(stack) == registered
