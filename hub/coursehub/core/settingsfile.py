"""Reads the environment and the settings file once into a typed, frozen Settings object.

This is the only module that reads ``os.environ``. Every problem is collected and reported
in one SettingsError naming each key, so an admin fixes the file in one pass. Every default
comes from the Settings model (settings.default), never from a literal here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from .. import __version__
from .settings import (
    DEFAULT_ROLE_IMAGES, MODES, PLACEHOLDER, ROLES, Culler, Limits, LTI13Platform, RolePolicy,
    Settings, SettingsError, default, parse_size,
)

class _Reader:
    """Collects problems while reading nested mappings, so all are reported at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def section(self, data: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
        value = data.get(key) or {}
        if not isinstance(value, Mapping):
            self.problems.append(f"{key}: must be a mapping, got {type(value).__name__}")
            return {}
        for unknown in sorted(set(value) - allowed):
            self.problems.append(
                f"{key}.{unknown}: unknown key (allowed: {', '.join(sorted(allowed))})"
            )
        return value

    def typed(self, data: Mapping[str, Any], path: str, key: str, kind: type, default: Any):
        value = data.get(key, default)
        if value is None:
            return default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            self.problems.append(f"{path}.{key}: must be {kind.__name__}, got {value!r}")
            return default
        return value

    def strings(self, data: Mapping[str, Any], path: str, key: str) -> tuple[str, ...]:
        value = data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.problems.append(f"{path}.{key}: must be a list of strings")
            return ()
        return tuple(str(v) for v in value)

    def size(self, data: Mapping[str, Any], path: str, key: str, default: int) -> int:
        if data.get(key) is None:
            return default
        try:
            return parse_size(data[key])
        except ValueError as error:
            self.problems.append(f"{path}.{key}: {error}")
            return default


def _read_limits(reader: _Reader, data: Mapping[str, Any], path: str) -> Limits:
    base = Limits()
    limits = Limits(
        cpu_default=reader.typed(data, path, "cpu", float, base.cpu_default),
        cpu_max=reader.typed(data, path, "cpu_max", float, base.cpu_max),
        cpu_guarantee=reader.typed(data, path, "cpu_guarantee", float, base.cpu_guarantee),
        mem_default=reader.size(data, path, "mem", base.mem_default),
        mem_max=reader.size(data, path, "mem_max", base.mem_max),
        mem_guarantee=reader.size(data, path, "mem_guarantee", base.mem_guarantee),
    )
    if not 0 < limits.cpu_default <= limits.cpu_max:
        reader.problems.append(f"{path}.cpu: must be > 0 and <= cpu_max ({limits.cpu_max})")
    if not 0 <= limits.cpu_guarantee <= limits.cpu_default:
        reader.problems.append(f"{path}.cpu_guarantee: must be between 0 and cpu")
    if not 0 < limits.mem_default <= limits.mem_max:
        reader.problems.append(f"{path}.mem: must be > 0 and <= mem_max")
    if not 0 <= limits.mem_guarantee <= limits.mem_default:
        reader.problems.append(f"{path}.mem_guarantee: must be between 0 and mem")
    return limits


_ROLE_KEYS = {
    "image", "allowed_images", "interface",
    "cpu", "cpu_max", "cpu_guarantee", "mem", "mem_max", "mem_guarantee",
}


def _read_roles(reader: _Reader, data: Mapping[str, Any], image_tag: str) -> dict[str, RolePolicy]:
    section = reader.section(data, "roles", set(ROLES))
    roles: dict[str, RolePolicy] = {}
    for role in ROLES:
        raw = section.get(role)
        if raw is None and role == "ta":
            raw = section.get("instructor") or {}
        raw = raw or {}
        path = f"roles.{role}"
        if not isinstance(raw, Mapping):
            reader.problems.append(f"{path}: must be a mapping")
            raw = {}
        for unknown in sorted(set(raw) - _ROLE_KEYS):
            reader.problems.append(f"{path}.{unknown}: unknown key")
        image = reader.typed(raw, path, "image", str, f"{DEFAULT_ROLE_IMAGES[role]}:{image_tag}")
        interface = reader.typed(raw, path, "interface", str, RolePolicy.interface)
        if interface not in ("lab", "notebook"):
            reader.problems.append(f"{path}.interface: must be 'lab' or 'notebook'")
        roles[role] = RolePolicy(
            image=image,
            allowed_images=reader.strings(raw, path, "allowed_images"),
            limits=_read_limits(reader, raw, path),
            interface=interface,
        )
    return roles


def _read_platforms(reader: _Reader, lti13: Mapping[str, Any]) -> tuple[LTI13Platform, ...]:
    raw = lti13.get("platforms") or []
    if not isinstance(raw, list):
        reader.problems.append("lti13.platforms: must be a list")
        return ()
    platforms = []
    keys = {"name", "issuer", "client_ids", "deployment_ids", "authorize_url", "jwks_url", "token_url"}
    for index, item in enumerate(raw):
        path = f"lti13.platforms[{index}]"
        if not isinstance(item, Mapping):
            reader.problems.append(f"{path}: must be a mapping")
            continue
        for unknown in sorted(set(item) - keys):
            reader.problems.append(f"{path}.{unknown}: unknown key")
        for required in ("issuer", "client_ids", "deployment_ids", "authorize_url", "jwks_url"):
            if not item.get(required):
                reader.problems.append(f"{path}.{required}: required")
        for url_key in ("authorize_url", "jwks_url", "token_url"):
            url = str(item.get(url_key) or "")
            if url and not url.startswith(("https://", "http://")):
                reader.problems.append(f"{path}.{url_key}: must be an http(s) URL")
        platforms.append(
            LTI13Platform(
                issuer=str(item.get("issuer") or ""),
                client_ids=reader.strings(item, path, "client_ids"),
                deployment_ids=reader.strings(item, path, "deployment_ids"),
                authorize_url=str(item.get("authorize_url") or ""),
                jwks_url=str(item.get("jwks_url") or ""),
                name=str(item.get("name") or item.get("issuer") or ""),
                token_url=str(item.get("token_url") or ""),
            )
        )
    issuers = [p.issuer for p in platforms]
    for issuer in sorted({i for i in issuers if issuers.count(i) > 1}):
        reader.problems.append(f"lti13.platforms: issuer {issuer} is listed twice")
    return tuple(platforms)


def _parse_consumers(reader: _Reader, value: str) -> dict[str, str]:
    consumers: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        key, sep, secret = pair.partition(":")
        if not sep or not key or not secret:
            reader.problems.append(
                "COURSEHUB_LTI11_CONSUMERS: each entry must be key:secret, comma-separated"
            )
            continue
        if secret == PLACEHOLDER or len(secret) < 16:
            reader.problems.append(
                f"COURSEHUB_LTI11_CONSUMERS: the secret of key {key!r} is a placeholder or "
                "shorter than 16 characters"
            )
        consumers[key] = secret
    return consumers


SECRET_ENV = {
    "JUPYTERHUB_CRYPT_KEY": "hub crypt key (openssl rand -hex 32)",
    "CONFIGPROXY_AUTH_TOKEN": "proxy API token",
    "COURSEHUB_API_TOKEN": "coursehub service token",
    "POSTGRES_PASSWORD": "Postgres password",
    "JPY_COOKIE_SECRET": "hub cookie secret",
}
SETTINGS_KEYS = {"hub", "lti11", "lti13", "roles", "grader", "culler", "framing", "spawn", "courses", "grades", "roster"}


def load_settings(env: Mapping[str, str] | None = None, settings_text: str | None = None) -> Settings:
    """Builds Settings from the environment and the YAML settings file.

    ``env`` defaults to os.environ and ``settings_text`` to the file named by
    COURSEHUB_SETTINGS; both are parameters so that tests pass data in directly.
    """
    env = os.environ if env is None else env
    reader = _Reader()
    for name, what in SECRET_ENV.items():
        value = env.get(name, "")
        if not value or value == PLACEHOLDER:
            reader.problems.append(f"{name}: missing or placeholder ({what}); run `make secrets`")

    if settings_text is None:
        path = Path(env.get("COURSEHUB_SETTINGS", "/srv/coursehub/settings.yaml"))
        try:
            settings_text = path.read_text()
        except OSError as error:
            reader.problems.append(f"COURSEHUB_SETTINGS: cannot read {path}: {error.strerror}")
            settings_text = ""
    try:
        data = yaml.safe_load(settings_text) or {}
    except yaml.YAMLError as error:
        raise SettingsError([f"settings file is not valid YAML: {error}"]) from None
    if not isinstance(data, Mapping):
        raise SettingsError(["settings file: the top level must be a mapping"])
    for unknown in sorted(set(data) - SETTINGS_KEYS):
        reader.problems.append(
            f"{unknown}: unknown key (allowed: {', '.join(sorted(SETTINGS_KEYS))})"
        )

    hub = reader.section(data, "hub", {"admin_users", "lms_admins_are_hub_admins", "public_url"})
    lti11 = reader.section(data, "lti11", {"username_key"})
    lti13 = reader.section(data, "lti13", {"username_key", "platforms", "dev_platform"})
    grader = reader.section(data, "grader", {"image"})
    culler = reader.section(data, "culler", {"timeout", "interval", "max_age"})
    framing = reader.section(data, "framing", {"allowed_origins"})
    spawn = reader.section(data, "spawn", {"concurrent_limit", "start_timeout"})
    courses = reader.section(data, "courses", {"id_source"})
    grades = reader.section(data, "grades", {"send_on_feedback"})
    roster_section = reader.section(data, "roster", {"sync_minutes"})

    # Images are pinned to the release they were built for, never `latest`.
    image_tag = env.get("COURSEHUB_IMAGE_TAG") or __version__
    public_url = env.get("COURSEHUB_PUBLIC_URL") or reader.typed(hub, "hub", "public_url", str, "")
    if public_url and not re.match(r"^https?://[^/]+/?$", public_url):
        reader.problems.append(
            "hub.public_url / COURSEHUB_PUBLIC_URL: must be scheme://host[:port] with no path"
        )
    tls = env.get("COURSEHUB_TLS", "") == "1"
    if tls and public_url.startswith("http://"):
        reader.problems.append(
            "COURSEHUB_PUBLIC_URL: the proxy serves HTTPS (tls/tls.crt is present), so the "
            "public URL must start with https://"
        )
    origins = reader.strings(framing, "framing", "allowed_origins")
    for origin in origins:
        if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d+)?$", origin):
            reader.problems.append(f"framing.allowed_origins: {origin!r} is not an origin")
    id_source = reader.typed(courses, "courses", "id_source", str, default("course_id_source"))
    if id_source not in ("label", "id"):
        reader.problems.append("courses.id_source: must be 'label' or 'id'")
    mode = env.get("COURSEHUB_MODE") or default("mode")
    if mode not in MODES:
        reader.problems.append(f"COURSEHUB_MODE: must be one of {', '.join(MODES)}, got {mode!r}")
    base_culler = Culler()
    culler_settings = Culler(
        timeout=reader.typed(culler, "culler", "timeout", int, base_culler.timeout),
        interval=reader.typed(culler, "culler", "interval", int, base_culler.interval),
        max_age=reader.typed(culler, "culler", "max_age", int, base_culler.max_age),
    )
    if min(culler_settings.timeout, culler_settings.interval, culler_settings.max_age) < 0:
        reader.problems.append("culler: timeout, interval and max_age must be >= 0")
    if culler_settings.enabled and culler_settings.interval <= 0:
        reader.problems.append("culler.interval: must be > 0 when culling is on")

    pg = {k: env.get(k, "") for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")}
    # psycopg2 is named explicitly: SQLAlchemy 2.1 defaults to psycopg 3, which we do not ship.
    db_url = "postgresql+psycopg2://{user}:{pw}@{host}:5432/{db}".format(
        user=pg["POSTGRES_USER"] or "coursehub",
        pw=pg["POSTGRES_PASSWORD"],
        host=env.get("POSTGRES_HOST", "postgres"),
        db=pg["POSTGRES_DB"] or "jupyterhub",
    )
    settings = Settings(
        public_url=public_url.rstrip("/"),
        crypt_key=env.get("JUPYTERHUB_CRYPT_KEY", ""),
        proxy_token=env.get("CONFIGPROXY_AUTH_TOKEN", ""),
        api_token=env.get("COURSEHUB_API_TOKEN", ""),
        db_url=env.get("COURSEHUB_DB_URL") or db_url,
        lti11_consumers=_parse_consumers(reader, env.get("COURSEHUB_LTI11_CONSUMERS", "")),
        lti13_platforms=_read_platforms(reader, lti13),
        lti13_key_file=env.get("COURSEHUB_LTI13_KEY_FILE", "/srv/coursehub/secrets/lti13_key.pem"),
        roles=_read_roles(reader, data, image_tag),
        grader_image=reader.typed(grader, "grader", "image", str, f"coursehub/grader:{image_tag}"),
        lti11_username_key=reader.typed(lti11, "lti11", "username_key", str, default("lti11_username_key")),
        lti13_username_key=reader.typed(lti13, "lti13", "username_key", str, default("lti13_username_key")),
        admin_users=reader.strings(hub, "hub", "admin_users"),
        lms_admins_are_hub_admins=reader.typed(hub, "hub", "lms_admins_are_hub_admins", bool,
                                               default("lms_admins_are_hub_admins")),
        dev_platform=reader.typed(lti13, "lti13", "dev_platform", bool, default("dev_platform")),
        frame_ancestors=origins,
        culler=culler_settings,
        concurrent_spawn_limit=reader.typed(spawn, "spawn", "concurrent_limit", int, default("concurrent_spawn_limit")),
        start_timeout=reader.typed(spawn, "spawn", "start_timeout", int, default("start_timeout")),
        network=env.get("COURSEHUB_NETWORK") or default("network"),
        data_volume=env.get("COURSEHUB_DATA_VOLUME") or default("data_volume"),
        stack=env.get("COURSEHUB_STACK") or default("stack"),
        course_id_source=id_source,
        grades_send_on_feedback=reader.typed(grades, "grades", "send_on_feedback", bool,
                                             default("grades_send_on_feedback")),
        roster_sync_minutes=reader.typed(roster_section, "roster", "sync_minutes", int,
                                         default("roster_sync_minutes")),
        tls=tls,
        mode=mode,
    )
    if settings.roster_sync_minutes < 0:
        reader.problems.append("roster.sync_minutes: must be >= 0")
    if reader.problems:
        raise SettingsError(reader.problems)
    return settings
