"""The LTI layer's own decisions, with a stand-in for the tornado handler (a process boundary).

Full request flows through real handlers run against a live hub in tests/integration.
"""

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest
from jupyterhub.handlers import BaseHandler
from tornado.httputil import HTTPHeaders

from coursehub.devlms import launcher
from coursehub.core.launch import Launch
import dataclasses

from coursehub.lti.authenticator import CoursehubAuthenticator, lti_traits
from coursehub.lti.checks import Refusal, decode_state
from coursehub.core.settings import LTI13Platform, Settings
from coursehub.storage.schema import lti_nonces
from coursehub.lti.toolkeys import rfc7638_thumbprint

BASE = "http://127.0.0.1:18000"
SECRET = "0123456789abcdef-secret"


class FakeRequest:
    def __init__(self, fields):
        self.arguments = {k: [v.encode()] for k, v in fields.items()}
        self.host = "127.0.0.1:18000"
        self.uri = "/hub/lti/launch"
        self.protocol = "http"
        self.headers = HTTPHeaders({"Content-Type": "application/x-www-form-urlencoded"})
        self.remote_ip = "127.0.0.9"
        self.query = ""


class FakeHandler:
    """What CoursehubAuthenticator reads from a handler: request, find_user, next-url checks."""

    def __init__(self, fields=None, users=None):
        self.request = FakeRequest(fields or {})
        self.users = users or {}
        self.settings = {}
        self.subdomain_host = ""
        self.base_url = "/"
        self.hub = SimpleNamespace(base_url="/hub/")
        self.log = logging.getLogger("test")

    def find_user(self, name):
        return self.users.get(name)

    _validate_next_url = BaseHandler._validate_next_url


@pytest.fixture
def auth(tmp_path):
    a = CoursehubAuthenticator(settings=_settings(
        public_url="",
        db_url=f"sqlite:///{tmp_path / 'hub.sqlite'}",
        lti13_platforms=(LTI13Platform("https://lms.example", ("c1",), ("d1",),
                                       "https://lms.example/auth", "https://lms.example/jwks"),),
        lti13_key_file=str(tmp_path / "no-key.pem"),
    ))
    yield a
    a.store.close()


def signed(spec=None, **kwargs):
    return launcher.lti11_launch(BASE, spec or launcher.LaunchSpec(user="alice", course="CS101"),
                                 "moodle", SECRET, **kwargs)[1]


def lti11(auth, fields):
    handler = FakeHandler(fields)
    return asyncio.run(auth._authenticate_lti11(handler)), handler


def refusal(auth, fields, caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(Refusal) as error:
        lti11(auth, fields)
    assert f"coursehub.refused kind=lti reason={error.value.refusal} " in caplog.text
    return error.value


def test_lti11_launch_gives_name_groups_state_and_course(auth):
    model, handler = lti11(auth, signed())
    assert model["name"].startswith("alice-")
    assert model["groups"] is None  # set after login by sync_course_groups
    assert model["admin"] is False
    state = model["auth_state"]
    assert state["version"] == "1.1" and state["platform"] == "moodle"
    assert Launch.from_dict(state["launch"]).course_id == "cs101"
    assert state["claims"]["context_label"] == "CS101"
    assert not any(k.startswith("oauth_") for k in state["claims"])
    assert handler.coursehub_launch.course_id == "cs101"


def test_lti11_replay_is_refused(auth, caplog):
    fields = signed()
    lti11(auth, fields)
    error = refusal(auth, fields, caplog)
    assert error.status_code == 401 and error.refusal == "replayed_nonce"
    assert "already used" in error.message


def test_bad_signature_does_not_burn_the_nonce(auth, caplog):
    good = signed(nonce="shared-nonce")
    forged = dict(good, oauth_signature="AAAA" + good["oauth_signature"][4:])
    error = refusal(auth, forged, caplog)
    assert (error.status_code, error.refusal) == (401, "bad_signature")
    assert "shared secret" in error.message
    assert auth.store.count_sync(lti_nonces) == 0
    model, _ = lti11(auth, good)  # the real launch with the same nonce still works
    assert model["name"].startswith("alice-")


@pytest.mark.parametrize("change,status,reason", [
    ({"oauth_consumer_key": "nope"}, 401, "unknown_key"),
    ({"oauth_timestamp": "abc"}, 400, "bad_timestamp"),
    ({"oauth_timestamp": str(int(time.time()) - 120)}, 401, "stale_timestamp"),
    ({"oauth_nonce": "n" * 300}, 400, "bad_nonce"),
])
def test_lti11_refusals(auth, caplog, change, status, reason):
    error = refusal(auth, {**signed(), **change}, caplog)
    assert (error.status_code, error.refusal) == (status, reason)


def test_lti11_launch_without_course_is_refused_after_signature(auth, caplog):
    fields = launcher.lti11_fields(launcher.LaunchSpec())
    del fields["context_id"]
    signed_fields = launcher.sign_lti11(BASE + "/hub/lti/launch", fields, "moodle", SECRET)
    error = refusal(auth, signed_fields, caplog)
    assert (error.status_code, error.refusal) == (400, "bad_launch")
    assert "outside a course" in error.message


def test_groups_merge_with_other_courses(auth):
    from jupyterhub import orm

    db = orm.new_session_factory("sqlite://")()
    account = orm.User(name="alice")
    account.groups = [orm.Group(name=g) for g in ("nbgrader-cs101", "formgrade-bio2", "nbgrader-ml3")]
    db.add(account)
    db.commit()
    user = SimpleNamespace(db=db, orm_user=account)
    _, handler = lti11(auth, signed(launcher.LaunchSpec(user="alice", role="ta", course="CS101")))
    auth.sync_course_groups(user, handler.coursehub_launch)
    # student -> TA in cs101 moves the user between its two groups; other courses stay
    assert sorted(g.name for g in account.groups) == ["formgrade-bio2", "formgrade-cs101", "nbgrader-ml3"]
    _, handler = lti11(auth, signed(launcher.LaunchSpec(user="alice", role="student", course="CS101")))
    auth.sync_course_groups(user, handler.coursehub_launch)
    db.expire_all()  # from the database, not the session's memory
    assert sorted(g.name for g in account.groups) == ["formgrade-bio2", "nbgrader-cs101", "nbgrader-ml3"]


def test_auth_state_keeps_the_latest_launch_of_every_course(auth):
    from coursehub.lti.authstate import keep_course_launches, reconcile_launch

    assert auth.reconcile_auth_state_hook is reconcile_launch
    first, _ = lti11(auth, signed(launcher.LaunchSpec(user="alice", course="BIO2")))
    assert keep_course_launches(auth, first, None) == first["auth_state"]
    second, _ = lti11(auth, signed(launcher.LaunchSpec(user="alice", role="ta", course="CS101")))
    merged = keep_course_launches(auth, second, first["auth_state"])
    assert set(merged["launches"]) == {"bio2", "cs101"}
    assert merged["launch"] == second["auth_state"]["launch"]
    again, _ = lti11(auth, signed(launcher.LaunchSpec(user="alice", role="student", course="BIO2")))
    latest = keep_course_launches(auth, again, merged)
    assert latest["launches"]["bio2"]["role"] == "student" and latest["launches"]["cs101"]["role"] == "ta"


def test_a_user_created_by_the_launch_joins_its_group_in_the_auth_state_commit(auth):
    from jupyterhub import orm

    from coursehub.lti.authstate import reconcile_launch
    from coursehub.lti.handlers import NEW_MEMBER

    db = orm.new_session_factory("sqlite://")()
    model, handler = lti11(auth, signed(launcher.LaunchSpec(user="alice", role="ta", course="CS101")))
    assert handler.coursehub_auth_model is model
    account = orm.User(name=model["name"])
    db.add(account)
    db.commit()
    model[NEW_MEMBER] = (account, "cs101", "ta")  # as LaunchLogin.user_from_username marks it
    state = reconcile_launch(auth, model, None)
    assert NEW_MEMBER not in model and state["launches"].keys() == {"cs101"}
    assert [g.name for g in account.groups] == ["formgrade-cs101"] and db.dirty
    db.commit()  # JupyterHub's save_auth_state
    db.expire_all()
    assert [g.name for g in account.groups] == ["formgrade-cs101"]
    # a login without the mark (a returning user) leaves groups to sync_course_groups
    model, _ = lti11(auth, signed(launcher.LaunchSpec(user="alice", course="BIO2")))
    reconcile_launch(auth, model, state)
    assert not db.dirty


def test_admin_only_from_settings_or_allowed_lms_admins(auth):
    model, _ = lti11(auth, signed(launcher.LaunchSpec(user="root", role="instructor,admin")))
    assert model["admin"] is False
    auth.settings = dataclasses.replace(auth.settings, lms_admins_are_hub_admins=True)
    model, _ = lti11(auth, signed(launcher.LaunchSpec(user="root", role="instructor,admin")))
    assert model["admin"] is True
    auth.settings = dataclasses.replace(auth.settings, lms_admins_are_hub_admins=False)
    auth.admin_users = {model["name"]}
    model, _ = lti11(auth, signed(launcher.LaunchSpec(user="root", role="student")))
    assert model["admin"] is True


def test_same_label_on_two_platforms_gets_two_courses(auth):
    first, _ = lti11(auth, signed())
    launch = Launch.from_dict(first["auth_state"]["launch"])
    other = launch.__class__(**{**launch.to_dict(), "platform": "https://lms.example", "course_id": ""})
    course = asyncio.run(auth.resolve_course(FakeHandler(), other, "1.3"))
    assert course != "cs101" and course.startswith("cs101-")
    again = asyncio.run(auth.resolve_course(FakeHandler(), other, "1.3"))
    assert again == course


def test_concurrent_first_launches_of_a_course_agree(auth):
    model, _ = lti11(auth, signed())
    launch = Launch.from_dict(model["auth_state"]["launch"])
    new = launch.__class__(**{**launch.to_dict(), "context_id": "brand-new", "context_label": "NEW1"})

    async def main():
        return await asyncio.gather(*(auth.resolve_course(FakeHandler(), new, "1.1") for _ in range(10)))

    assert set(asyncio.run(main())) == {"new1"}


@pytest.mark.parametrize("custom_next,state_next,expected", [
    ("", "", "/hub/coursehub/open/cs101"),
    ("/user/alice/lab", "", "/user/alice/lab"),
    ("https://evil.example/x", "", "/hub/coursehub/open/cs101"),
    ("//evil.example/x", "", "/hub/coursehub/open/cs101"),
    (f"{BASE}/hub/home", "", "/hub/home"),
    ("", "/hub/", "/hub/coursehub/open/cs101"),
    ("", "/", "/hub/coursehub/open/cs101"),
    ("", "/hub/lti/launch", "/hub/coursehub/open/cs101"),
    ("", "/hub/spawn", "/hub/spawn"),
])
def test_launch_redirect_stays_on_the_hub(auth, custom_next, state_next, expected):
    model, _ = lti11(auth, signed())
    launch = Launch.from_dict(model["auth_state"]["launch"])
    launch = launch.__class__(**{**launch.to_dict(), "custom": {"next": custom_next} if custom_next else {}})
    handler = FakeHandler()
    handler.request.host = "127.0.0.1:18000"
    assert auth.launch_redirect(handler, launch, state_next) == expected


def test_platform_lookup_reads_the_registry(auth):
    (entry,) = asyncio.run(auth.registrations("https://lms.example"))
    assert entry.platform.client_ids == ("c1",) and entry.platform.source == "settings" and entry.enabled
    assert asyncio.run(auth.registrations("https://other")) == []
    assert asyncio.run(auth.registrations("")) == []


def testdecode_state():
    import base64, json
    state = base64.urlsafe_b64encode(json.dumps({"state_id": "abc", "next_url": "/x"}).encode()).decode()
    assert decode_state(state) == {"state_id": "abc", "next_url": "/x"}
    assert decode_state("%%%") == {} and decode_state("bnVsbA==") == {}


def test_rfc7638_thumbprint_example():
    # RFC 7638 section 3.1.
    jwk = {
        "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRX"
             "jBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicA"
             "taSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3X"
             "PksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert rfc7638_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _settings(**kw):
    base = dict(
        public_url="https://hub.example.edu", crypt_key="k", proxy_token="p", api_token="a",
        db_url="postgresql://u:p@postgres:5432/jupyterhub", lti11_consumers={"moodle": SECRET},
        lti13_platforms=(LTI13Platform("https://lms", ("c1",), ("d1",), "https://lms/a", "https://lms/j"),),
        lti13_key_file="/srv/coursehub/secrets/lti13_key.pem", roles={},
    )
    base.update(kw)
    return Settings(**base)


def test_lti_traits():
    traits = lti_traits(_settings(dev_platform=True))
    assert traits["JupyterHub.authenticator_class"] == "coursehub.lti.authenticator.CoursehubAuthenticator"
    assert traits["Authenticator.allow_all"] is True
    assert traits["Authenticator.manage_groups"] is True
    assert traits["Authenticator.enable_auth_state"] is True
    # One road for the config: the authenticator reads the same Settings as the spawner.
    assert traits["CoursehubAuthenticator.settings"].lti13_platforms[0].client_ids == ("c1",)
    assert [k for k in traits if k.startswith("CoursehubAuthenticator.")] == ["CoursehubAuthenticator.settings"]
    from coursehub.core.devplatform import dev_key_path
    assert str(dev_key_path(traits["CoursehubAuthenticator.settings"].lti13_key_file)) == \
        "/srv/coursehub/secrets/dev_platform_key.pem"


def test_lti_config_sheet():
    from coursehub.cli.lmsconfig import render_lti_config
    from coursehub.lti.toolinfo import canvas_developer_key

    text = render_lti_config(_settings(), "")
    for expected in (
        "https://hub.example.edu/hub/lti/launch", "https://hub.example.edu/hub/lti13/oauth_login",
        "https://hub.example.edu/hub/lti13/oauth_callback", "https://hub.example.edu/hub/lti13/jwks",
        "Consumer key:         moodle", SECRET, "Initiate login URL", "Redirection URI(s)", "Public keyset",
    ):
        assert expected in text
    canvas = canvas_developer_key("https://hub.example.edu")
    assert canvas["public_jwk_url"] == "https://hub.example.edu/hub/lti13/jwks"
    from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem
    key = SigningKey.from_pem(generate_private_key_pem())
    # Canvas refuses keys without the JWK itself (ltiauthenticator #213).
    assert canvas_developer_key("https://hub.example.edu", key)["public_jwk"]["kid"] == key.kid
    sheet = render_lti_config(_settings(), "", "s3cret")
    assert sheet.index("https://hub.example.edu/hub/lti13/register?secret=s3cret") < sheet.index("LTI 1.1")
    assert canvas["extensions"][0]["domain"] == "hub.example.edu"


def test_cli_parses_launch_flags():
    from coursehub.cli.main import build_parser

    args = build_parser().parse_args([
        "launch", "--lti", "1.3", "--role", "ta", "--course", "CS1", "--custom", "a=b", "--custom", "c=d=e",
        "--url", "http://127.0.0.1:1",
    ])
    assert args.lti == "1.3" and dict(args.custom) == {"a": "b", "c": "d=e"}


@pytest.mark.parametrize("row,nonce,reason", [
    (None, "n", "unknown_state"),
    ({"used_at": 1_005.0}, "n", "replayed_state"),
    ({"created_at": 0.0}, "n", "expired_state"),
    ({"issuer": "https://elsewhere"}, "n", "wrong_issuer"),
    ({"client_id": "c9"}, "n", "wrong_audience"),
    ({}, "other", "nonce_mismatch"),
    ({}, "n", "replayed_state"),  # everything matched: another request claimed it first
])
def test_state_refusal_names_what_did_not_match(row, nonce, reason):
    from coursehub.lti.checks import state_refusal
    from coursehub.storage.schema import LTI13State

    state = None if row is None else LTI13State(**{
        "state_id": "s", "nonce": "n", "issuer": "https://lms.example", "client_id": "c1",
        "created_at": 1_000.0, "used_at": None, **row})
    status, got, message = state_refusal(state, "https://lms.example", ["c1"], nonce, 600, now=1_010)
    assert got == reason and status in (400, 401) and message
