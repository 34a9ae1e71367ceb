"""The settings model: everything deployment-specific as typed, frozen data, and the one
place each default is written (the fields' defaults; ``default(name)`` reads them).

settingsfile.py builds it from the environment and the YAML settings file.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field
from typing import Any, Mapping

PLACEHOLDER = "changeme"
HUB_PORT = 8081
# The hub API as the hub process itself (and a CLI inside its container) reaches it.
HUB_API_INSIDE_HUB = f"http://127.0.0.1:{HUB_PORT}/hub/api"
ROLES = ("student", "instructor", "ta")
# compose: servers and graders are containers; swarm: services (set by docker-stack.yml).
MODES = ("compose", "swarm")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)i?B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class SettingsError(ValueError):
    """The settings are unusable; the message lists every offending key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "coursehub settings are invalid:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def parse_size(value: Any) -> int:
    """'512M', '2G', '1.5GiB' or a byte count -> bytes. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 512M or 2G)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.upper()])


@dataclass(frozen=True)
class Limits:
    """Resource policy of one role: what a launch gets by default and at most."""

    cpu_default: float = 1.0
    cpu_max: float = 2.0
    cpu_guarantee: float = 0.0
    mem_default: int = 1024**3
    mem_max: int = 2 * 1024**3
    mem_guarantee: int = 0


@dataclass(frozen=True)
class RolePolicy:
    """What a role's servers run: the default image, the extra images allowed, limits."""

    image: str
    allowed_images: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    interface: str = "lab"

    def may_use(self, image: str) -> bool:
        return image == self.image or image in self.allowed_images


@dataclass(frozen=True)
class LTI13Platform:
    """One LTI 1.3 platform (an LMS installation) registered with this tool: from the settings
    file (one entry may list several client ids) or, one client each, from the platform
    registry (storage/platforms.py: dynamic registrations and the settings file's entries)."""

    issuer: str
    client_ids: tuple[str, ...]
    deployment_ids: tuple[str, ...]
    authorize_url: str
    jwks_url: str
    name: str = ""
    # Where the tool gets access tokens for the LMS's services (grades, roster); optional for
    # launches alone.
    token_url: str = ""
    # settings, dynamic (registered by the LMS) or dev (the built-in development platform)
    source: str = "settings"

    @property
    def client_id(self) -> str:
        """The one client of a registry entry."""
        return self.client_ids[0] if self.client_ids else ""


@dataclass(frozen=True)
class Culler:
    timeout: int = 3600
    interval: int = 300
    max_age: int = 0

    @property
    def enabled(self) -> bool:
        return self.timeout > 0


@dataclass(frozen=True)
class Settings:
    """Everything deployment-specific, validated. Built by load_settings()."""

    public_url: str
    crypt_key: str
    proxy_token: str
    api_token: str
    db_url: str
    lti11_consumers: Mapping[str, str]
    lti13_platforms: tuple[LTI13Platform, ...]
    lti13_key_file: str
    roles: Mapping[str, RolePolicy]
    grader_image: str = ""
    lti11_username_key: str = "user_id"
    lti13_username_key: str = "sub"
    admin_users: tuple[str, ...] = ()
    lms_admins_are_hub_admins: bool = False
    dev_platform: bool = False
    frame_ancestors: tuple[str, ...] = ()
    culler: Culler = field(default_factory=Culler)
    concurrent_spawn_limit: int = 100
    start_timeout: int = 120
    network: str = "coursehub"
    data_volume: str = "coursehub-data"
    data_root: str = "/srv/coursehub/data"
    stack: str = "coursehub"
    hub_connect_host: str = "hub"
    proxy_api_url: str = "http://proxy:8001"
    exchange_root: str = "/srv/nbgrader/exchange"
    volume_mount_root: str = "/home/jovyan/volumes"
    course_id_source: str = "label"
    # Send an assignment's grades to the LMS by themselves once its feedback is released (a
    # course's page can turn it on or off for that course).
    grades_send_on_feedback: bool = False
    # A staff launch that carries the LMS's roster service syncs the roster at most this often.
    roster_sync_minutes: int = 60
    # The proxy serves HTTPS itself (tls.crt and tls.key mounted; scripts/compose.sh sets it).
    tls: bool = False
    # How servers and graders run: containers (compose) or swarm services (docker-stack.yml).
    mode: str = "compose"

    @property
    def https(self) -> bool:
        """Browsers reach the hub over HTTPS: at our proxy, or at a TLS-terminating one."""
        return self.tls or self.public_url.startswith("https://")

    def role_policy(self, role: str) -> RolePolicy:
        return self.roles[role]

    @property
    def csp_frame_ancestors(self) -> str:
        """CSP frame-ancestors value of the hub, servers and graders: the hub itself (nbgrader's
        formgrader panel is a same-origin iframe) plus the LMS origins allowed to frame it."""
        return " ".join(["'self'", *self.frame_ancestors])

    @property
    def hub_api_url(self) -> str:
        """The hub's REST API as containers on the stack's network reach it."""
        return f"http://{self.hub_connect_host}:{HUB_PORT}/hub/api"


def default(name: str) -> Any:
    """The default of Settings field ``name``: the one place each default is written."""
    found = Settings.__dataclass_fields__[name]
    if found.default_factory is not MISSING:
        return found.default_factory()
    return found.default


DEFAULT_ROLE_IMAGES = {
    "student": "coursehub/student",
    "instructor": "coursehub/instructor",
    "ta": "coursehub/instructor",
}
