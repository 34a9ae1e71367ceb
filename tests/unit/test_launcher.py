"""Launch builders: what they produce must pass the very validators the hub uses."""

import time
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from tornado.web import HTTPError

from coursehub.core import devplatform
from coursehub.devlms import oidc
from coursehub.lti.forms import auto_submit_form
from coursehub.devlms import launcher
from coursehub.lti.lti11 import CoursehubLTI11Validator
from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem

URL = "http://127.0.0.1:18000/hub/lti/launch"
CONSUMERS = {"moodle": "0123456789abcdef-secret"}


@pytest.fixture(scope="module")
def dev_key():
    return SigningKey.from_pem(generate_private_key_pem())


def test_signed_lti11_launch_passes_upstream_validation():
    spec = launcher.LaunchSpec(user="u1", role="instructor", course="CS101", custom={"image": "x"})
    url, fields = launcher.lti11_launch("http://127.0.0.1:18000/", spec, "moodle", CONSUMERS["moodle"])
    assert url == URL
    assert fields["oauth_signature_method"] == "HMAC-SHA1"
    assert fields["roles"] == "Instructor" and fields["custom_image"] == "x"
    assert fields["context_label"] == "CS101" and fields["context_id"] == "ctx-CS101"
    assert CoursehubLTI11Validator(CONSUMERS).validate_launch_request(URL, {}, fields)


def test_tampered_lti11_launch_fails_signature():
    _, fields = launcher.lti11_launch("http://127.0.0.1:18000", launcher.LaunchSpec(), "moodle", CONSUMERS["moodle"])
    fields["roles"] = "Instructor"
    with pytest.raises(HTTPError) as error:
        CoursehubLTI11Validator(CONSUMERS).validate_launch_request(URL, {}, fields)
    assert error.value.status_code == 401


def test_upstream_nonce_memory_is_off():
    # Upstream would refuse the second validation of the same (timestamp, nonce) in memory;
    # the replay check belongs to the database, after the signature.
    _, fields = launcher.lti11_launch("http://127.0.0.1:18000", launcher.LaunchSpec(), "moodle", CONSUMERS["moodle"])
    validator = CoursehubLTI11Validator(CONSUMERS)
    assert validator.validate_launch_request(URL, {}, fields)
    assert validator.validate_launch_request(URL, {}, fields)


def test_fixed_timestamp_and_nonce():
    _, fields = launcher.lti11_launch(
        "http://h", launcher.LaunchSpec(), "moodle", "s" * 20, timestamp=1_700_000_000, nonce="abc"
    )
    assert fields["oauth_timestamp"] == "1700000000" and fields["oauth_nonce"] == "abc"


@pytest.mark.parametrize("role,expected", [
    ("student", "Learner"),
    ("ta", "urn:lti:role:ims/lis/TeachingAssistant"),
    ("student,admin", "Learner,urn:lti:sysrole:ims/lis/Administrator"),
    ("urn:lti:role:ims/lis/Mentor", "urn:lti:role:ims/lis/Mentor"),
])
def test_lti11_roles(role, expected):
    assert launcher.lti11_roles(role) == expected


def test_lti13_login_url_carries_a_signed_hint(dev_key):
    spec = launcher.LaunchSpec(user="bob", role="ta", course="CS101", custom={"interface": "lab"})
    url = launcher.lti13_login_url("http://127.0.0.1:18000/", dev_key, spec)
    parsed = urlparse(url)
    assert parsed.path == "/hub/lti13/oauth_login"
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    assert query["iss"] == devplatform.DEV_ISSUER and query["client_id"] == "coursehub-dev"
    claims = oidc.read_login_hint(dev_key, query["login_hint"])
    assert claims["sub"] == "bob"
    assert claims[launcher.CLAIM + "context"]["label"] == "CS101"
    assert claims[launcher.CLAIM + "custom"] == {"interface": "lab"}
    assert any(r.endswith("#TeachingAssistant") for r in claims[launcher.CLAIM + "roles"])


def test_expired_or_foreign_hint_is_refused(dev_key):
    expired = oidc.mint_login_hint(dev_key, {"sub": "x"}, lifetime=-10)
    with pytest.raises(jwt.ExpiredSignatureError):
        oidc.read_login_hint(dev_key, expired)
    other = SigningKey.from_pem(generate_private_key_pem())
    with pytest.raises(jwt.InvalidSignatureError):
        oidc.read_login_hint(dev_key, oidc.mint_login_hint(other, {"sub": "x"}))


def test_id_token_claims_keep_protocol_claims_for_the_platform():
    message = {"sub": "u", "iss": "https://evil", "nonce": "forged", launcher.CLAIM + "deployment_id": "7"}
    claims = oidc.id_token_claims(message, nonce="n1", now=100)
    assert claims["iss"] == devplatform.DEV_ISSUER and claims["nonce"] == "n1"
    assert claims["aud"] == "coursehub-dev" and claims["exp"] == 100 + oidc.ID_TOKEN_LIFETIME
    assert claims[launcher.CLAIM + "deployment_id"] == "7"  # a hint may pick the deployment (tests)


def test_auto_submit_form_round_trips():
    page = auto_submit_form("http://h/cb?x=1&y=2", {"id_token": 'a"<b>', "state": "s"})
    action, fields = launcher.parse_form(page)
    assert action == "http://h/cb?x=1&y=2" and fields == {"id_token": 'a"<b>', "state": "s"}


def test_json_and_html_output():
    assert '"method": "GET"' in launcher.as_json("http://h/x")
    assert "http-equiv" in launcher.html_page("http://h/x?a=1&b=2")
    assert launcher.parse_form(launcher.html_page("http://h/l", {"a": "1"})) == ("http://h/l", {"a": "1"})
