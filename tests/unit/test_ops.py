"""Operations as data: the idle culler service, cookies under HTTPS, framing, and the
`coursehub status` report. Pure: a bare traitlets Config, no hub, no Docker."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from coursehub.config import CULLER_SCOPES, apply_hub, culler_service
from coursehub.core.settings import SettingsError
from coursehub.core.settingsfile import load_settings
from coursehub.cli.status import Server, render_status, running_servers

ENV = {
    "JUPYTERHUB_CRYPT_KEY": "a" * 64,
    "CONFIGPROXY_AUTH_TOKEN": "b" * 64,
    "COURSEHUB_API_TOKEN": "c" * 64,
    "POSTGRES_PASSWORD": "d" * 64,
    "JPY_COOKIE_SECRET": "e" * 64,
    "COURSEHUB_LTI11_CONSUMERS": "key:" + "f" * 32,
}


def settings(text: str = "", **env):
    return load_settings({**ENV, **env}, text)


def hub_config(text: str = "", **env) -> Config:
    c = Config()
    apply_hub(c, settings(text, **env))
    return c


def test_culler_is_a_managed_service_with_a_narrow_role():
    c = hub_config("culler: {timeout: 600, interval: 30, max_age: 7200}")
    service = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")
    assert "--timeout=600" in service["command"] and "--cull-every=30" in service["command"]
    assert "--max-age=7200" in service["command"] and "--cull-users=false" in service["command"]
    role = next(r for r in c.JupyterHub.load_roles if r["name"] == "idle-culler")
    assert role["services"] == ["idle-culler"] and role["scopes"] == CULLER_SCOPES
    assert not any(scope.startswith("admin:") for scope in role["scopes"])


@pytest.mark.parametrize("text", ["culler: {timeout: 0}", "culler: {timeout: 0, max_age: 99}"])
def test_timeout_zero_disables_the_culler(text):
    assert culler_service(settings(text)) is None
    c = hub_config(text)
    assert [s["name"] for s in c.JupyterHub.services] == ["coursehub"]
    assert all(r["name"] != "idle-culler" for r in c.JupyterHub.load_roles)


def test_no_max_age_by_default():
    assert not any(a.startswith("--max-age") for a in culler_service(settings())["command"])


def test_plain_http_keeps_default_cookies_and_no_framing():
    c = hub_config(COURSEHUB_PUBLIC_URL="http://hub.example.edu")
    assert "cookie_options" not in c.JupyterHub.tornado_settings
    assert c.JupyterHub.tornado_settings["headers"]["Content-Security-Policy"] == "frame-ancestors 'self'"


@pytest.mark.parametrize("env", [
    {"COURSEHUB_PUBLIC_URL": "https://hub.example.edu"},
    {"COURSEHUB_TLS": "1"},  # TLS at our proxy, no public URL set: still Secure
    {"COURSEHUB_TLS": "1", "COURSEHUB_PUBLIC_URL": "https://hub.example.edu:8443"},
])
def test_https_makes_cookies_secure_and_cross_site(env):
    c = hub_config("framing: {allowed_origins: ['https://lms.example.edu']}", **env)
    tornado = c.JupyterHub.tornado_settings
    assert tornado["cookie_options"] == {"samesite": "None", "secure": True}
    assert tornado["headers"]["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://lms.example.edu"
    )


def test_tls_with_an_http_public_url_is_refused():
    with pytest.raises(SettingsError, match="COURSEHUB_PUBLIC_URL"):
        settings(COURSEHUB_TLS="1", COURSEHUB_PUBLIC_URL="http://hub.example.edu")


def test_database_pool_checks_connections_after_a_postgres_restart():
    assert hub_config().JupyterHub.db_kwargs["pool_recycle"] == 300


def test_status_report_counts_servers_per_course_and_lists_orphan_graders():
    users = [
        {"name": "ann", "servers": {"ds101": {"ready": True, "last_activity": "2026-01-01T10:00:00Z"}}},
        {"name": "bob", "servers": {"ds101": {"ready": False, "last_activity": None},
                                    "ml202": {"ready": True, "last_activity": "2026-01-01T11:00:00Z"}}},
        {"name": "cy", "servers": {}},
    ]
    servers = running_servers(users)
    assert servers[0] == Server("ann", "ds101", True, "2026-01-01T10:00:00Z")
    report = render_status({"ds101": "Data Science", "ml202": "ML"},
                           {"ds101": "running", "old1": "exited"}, servers)
    lines = report.splitlines()
    assert lines[0] == "courses: 2"
    assert "ds101" in lines[1] and "grader=running" in lines[1] and "servers=2" in lines[1]
    assert "ml202" in lines[2] and "grader=none" in lines[2] and "servers=1" in lines[2]
    assert "old1" in lines[3] and "not in the course registry" in lines[3]
    assert "servers: 3 (2 ready, 1 starting or stopping)" in report
