"""The platform registry and dynamic registration: the store on SQLite, the pure checks of
lti/checks.py and lti/dynreg.py, and the tool's registration against the strict emulator's
own checks (devlms/registration.py)."""

import pytest

from coursehub.core.settings import LTI13Platform
from coursehub.devlms.registration import openid_configuration, registration_problems
from coursehub.lti import dynreg
from coursehub.lti.checks import deployment_check, login_registration, token_registration
from coursehub.storage.platforms import REGISTRATION_SECRET_LIFETIME, PlatformEntry, RegistrationRefused
from coursehub.storage.store import Store

MOODLE = LTI13Platform("https://moodle.example", ("m1", "m2"), ("d1",), "https://moodle.example/auth",
                       "https://moodle.example/jwks", "moodle", "https://moodle.example/token")


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    yield s
    s.close()


def dynamic(issuer="https://canvas.example", client="c7", deployments=()):
    return LTI13Platform(issuer, (client,), tuple(deployments), f"{issuer}/auth", f"{issuer}/jwks",
                         "canvas-x", f"{issuer}/token", "dynamic")


def test_settings_platforms_become_one_row_per_client_and_follow_the_file(store):
    store.sync_settings_platforms_sync([MOODLE])
    rows = store.platforms_for_issuer_sync("https://moodle.example")
    assert {r.platform.client_id for r in rows} == {"m1", "m2"}
    assert all(r.platform.token_url == "https://moodle.example/token" and r.platform.source == "settings" for r in rows)
    # An admin's disable survives the next start; a client gone from the file goes.
    store.set_platform_enabled_sync(rows[0].id, False)
    store.sync_settings_platforms_sync([LTI13Platform(**{**MOODLE.__dict__, "client_ids": ("m1",)})])
    (row,) = store.platforms_for_issuer_sync("https://moodle.example")
    assert row.platform.client_id == "m1" and row.enabled is False


def test_registration_secret_is_one_time_and_the_registry_changes_only_with_it(store):
    secret = store.registration_secret_sync()
    assert store.registration_secret_sync() == secret  # printed again, not rotated
    assert store.registration_secret_problem_sync(secret) == ""
    entry = store.register_dynamic_sync(secret, dynamic())
    assert entry.platform.source == "dynamic" and entry.platform.deployment_ids == ()
    assert store.registration_secret_problem_sync(secret) == "used"
    with pytest.raises(RegistrationRefused):
        store.register_dynamic_sync(secret, dynamic(client="c8"))
    assert [e.platform.client_id for e in store.all_platforms_sync()] == ["c7"]
    assert store.registration_secret_problem_sync("forged") == "unknown"
    fresh = store.registration_secret_sync()
    assert fresh != secret
    assert store.registration_secret_problem_sync(fresh, now=10**12) == "expired"
    newer = store.registration_secret_sync(new=True)
    assert store.registration_secret_problem_sync(fresh) == "unknown" and newer != fresh


def test_the_settings_file_wins_over_a_dynamic_registration(store):
    store.sync_settings_platforms_sync([MOODLE])
    secret = store.registration_secret_sync()
    with pytest.raises(RegistrationRefused, match="settings file"):
        store.register_dynamic_sync(secret, dynamic("https://moodle.example", "m1"))
    assert store.registration_secret_problem_sync(secret) == ""  # nothing used up
    # and a file entry that arrives later takes over the dynamic row
    store.register_dynamic_sync(secret, dynamic("https://canvas.example", "c7"))
    store.sync_settings_platforms_sync([MOODLE, dynamic("https://canvas.example", "c7")])
    (row,) = store.platforms_for_issuer_sync("https://canvas.example")
    assert row.platform.source == "settings"


def test_first_launch_binds_the_deployment_once(store):
    entry = store.register_dynamic_sync(store.registration_secret_sync(), dynamic())
    assert store.bind_deployment_sync(entry.id, "dep-1") is True
    assert store.bind_deployment_sync(entry.id, "dep-2") is False
    assert store.platforms_for_issuer_sync("https://canvas.example")[0].platform.deployment_ids == ("dep-1",)


def entry(client, enabled=True, deployments=("d1",), source="settings"):
    p = LTI13Platform("https://i", (client,), deployments, "https://i/a", "https://i/j", client, "", source)
    return PlatformEntry(1, p, enabled, None)


@pytest.mark.parametrize("entries,client,found,reason", [
    ([], "x", None, "unknown_issuer"),
    ([entry("a", enabled=False)], "a", None, "platform_disabled"),
    ([entry("a")], "", "a", None),
    ([entry("a"), entry("b")], "", None, "unknown_client"),
    ([entry("a"), entry("b")], "b", "b", None),
    ([entry("a"), entry("b", enabled=False)], "b", None, "platform_disabled"),
    ([entry("a"), entry("b", enabled=False)], "c", None, "unknown_client"),
])
def test_login_registration(entries, client, found, reason):
    got, refused = login_registration(entries, "https://i", client)
    assert (got.platform.client_id if got else None) == found
    assert (refused[1] if refused else None) == reason


def test_token_registration_prefers_azp_and_refuses_ambiguity():
    a, b = entry("a"), entry("b")
    assert token_registration([a, b], ["a", "b"], "b") is b
    assert token_registration([a, b], ["a", "b"], "") is None
    assert token_registration([a, b], ["a"], "") is a
    assert token_registration([entry("a", enabled=False)], ["a"], "a") is None


@pytest.mark.parametrize("deployments,source,deployment,bind,refused", [
    (("d1",), "settings", "d1", False, False),
    (("d1",), "settings", "d2", False, True),
    ((), "settings", "d1", False, True),
    ((), "dynamic", "d1", True, False),
    (("d1",), "dynamic", "d2", False, True),
])
def test_deployment_check(deployments, source, deployment, bind, refused):
    got_bind, got_refused = deployment_check(entry("a", deployments=deployments, source=source), deployment)
    assert got_bind is bind and bool(got_refused) is refused


CONFIG_URL = "https://lms.example/.well-known/openid-configuration"


def config(**over):
    base = {
        "issuer": "https://lms.example", "authorization_endpoint": "https://lms.example/auth",
        "registration_endpoint": "https://lms.example/register", "jwks_uri": "https://lms.example/jwks",
        "token_endpoint": "https://lms.example/token", "scopes_supported": ["openid"],
        dynreg.PLATFORM_CONFIGURATION: {"product_family_code": "moodle"},
    }
    return {**base, **over}


@pytest.mark.parametrize("cfg,url,problem", [
    (config(), CONFIG_URL, ""),
    (config(issuer="https://evil.example"), CONFIG_URL, "does not match"),
    (config(issuer="http://lms.example"), "http://lms.example/x", "not an https URL"),
    ({k: v for k, v in config().items() if k != "token_endpoint"}, CONFIG_URL, "lacks token_endpoint"),
    (config(id_token_signing_alg_values_supported=["HS256"]), CONFIG_URL, "RS256"),
    (config(token_endpoint_auth_methods_supported=["client_secret_basic"]), CONFIG_URL, "private_key_jwt"),
    ("nope", CONFIG_URL, "not a JSON object"),
])
def test_configuration_problem(cfg, url, problem):
    got = dynreg.configuration_problem(url, cfg, allow_http=False)
    assert (problem in got) if problem else got == ""


def test_configuration_url_problem():
    assert "pasted into the LMS" in dynreg.configuration_url_problem("", False)
    assert dynreg.configuration_url_problem("http://x/y", False)
    assert dynreg.configuration_url_problem("http://x/y", True) == ""


def test_the_tools_registration_passes_the_strict_emulator_and_asks_only_supported_scopes():
    platform_config = openid_configuration("https://hub.example.edu", {})
    body = dynreg.client_registration("https://hub.example.edu", platform_config)
    assert registration_problems(body) == []
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in body["scope"].split()
    types = {m["type"] for m in body[dynreg.TOOL_CONFIGURATION]["messages"]}
    assert types == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    narrow = dynreg.client_registration("https://hub.example.edu", config())
    assert narrow["scope"] == ""
    broken = {**body, "redirect_uris": ["https://elsewhere.example/cb"]}
    assert any("domain" in p for p in registration_problems(broken))


def test_registered_platform_keeps_what_the_lms_answered():
    platform, problem = dynreg.registered_platform(config(), {
        "client_id": "abc", dynreg.TOOL_CONFIGURATION: {"deployment_id": "7"}})
    assert problem == "" and platform.client_ids == ("abc",) and platform.deployment_ids == ("7",)
    assert platform.token_url == "https://lms.example/token" and platform.name == "moodle-lms.example"
    canvas, _ = dynreg.registered_platform(config(), {"client_id": 1000000000000042})
    assert canvas.deployment_ids == () and canvas.client_id == "1000000000000042"
    assert dynreg.registered_platform(config(), {"error": "x"}) == (None, "the platform's registration answer has no client_id")
    assert REGISTRATION_SECRET_LIFETIME > 86400
