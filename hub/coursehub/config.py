"""The only writer of JupyterHub's configuration: validated Settings in, traits on a traitlets
Config out (unit-tested with a bare ``Config()``); sets, never reads the environment."""

from __future__ import annotations

import json
from pathlib import Path

from .core.settings import HUB_PORT, Settings
from .devlms.routes import handlers as devlms_handlers
from .lti.authenticator import lti_traits
from .storage import dbcheck
from .tasks.feedback import watch_feedback
from .tasks.routes import watch_routes
from .web.course import (
    CourseOptionsHandler, CoursesHandler, GradesHandler, RosterHandler, RosterSyncHandler, SendGradesHandler,
)
from .web.api import ProvisionCourseHandler
from .web.deeplink import DeepLinkHandler
from .web.open import OpenCourseHandler

TEMPLATES = str(Path(__file__).parent / "templates")

# Scopes a course server's own token needs: nbgrader's JupyterHubAuthPlugin reads the
# user's groups, and the course list finds formgraders through the services API.
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    "read:users:groups!user",
    "list:services",
    "read:services",
]

# The `coursehub` service is the CLI's and the provisioning code's way into the hub API.
COURSEHUB_SERVICE_SCOPES = [
    "admin:users",
    "admin:servers",
    "admin:groups",
    "admin:services",
    "list:services",
    "read:services",
    "access:servers",
    "tokens",
    "read:roles",
]


# The idle culler's role: just enough to find idle servers and stop them (never users).
CULLER_SCOPES = [
    "list:users",
    "read:users:activity",
    "read:servers",
    "delete:servers",
]


def culler_service(settings: Settings) -> dict | None:
    """jupyterhub-idle-culler as a hub-managed service, or None when culling is off.

    Culling only stops servers: containers go, homes stay in the data volume, and the next
    launch starts the server again with every file in place.
    """
    culler = settings.culler
    if not culler.enabled:
        return None
    command = [
        "python3", "-m", "jupyterhub_idle_culler",
        f"--timeout={culler.timeout}",
        f"--cull-every={culler.interval}",
        "--cull-users=false",
    ]
    if culler.max_age:
        command.append(f"--max-age={culler.max_age}")
    return {"name": "idle-culler", "command": command}


def apply_hub(c, settings: Settings) -> None:
    """The hub process: database, external proxy, networking, cookies and framing."""
    c.JupyterHub.db_url = settings.db_url
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_port = HUB_PORT
    c.JupyterHub.hub_connect_ip = settings.hub_connect_host
    if settings.public_url:
        c.JupyterHub.public_url = settings.public_url + "/"
    # The proxy is its own container, so a hub restart drops no route and no session.
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = settings.proxy_api_url
    c.ConfigurableHTTPProxy.auth_token = settings.proxy_token
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.cleanup_proxy = False
    c.JupyterHub.concurrent_spawn_limit = settings.concurrent_spawn_limit
    c.JupyterHub.allow_named_servers = True
    # One server per course; the course id is the server's name (DESIGN 3.6).
    c.JupyterHub.named_server_limit_per_user = 0
    c.JupyterHub.default_url = "/hub/home"
    c.JupyterHub.redirect_to_server = False
    headers = {"Content-Security-Policy": f"frame-ancestors {settings.csp_frame_ancestors}"}
    tornado_settings = {"headers": headers}
    if settings.https:
        # Inside an LMS iframe the session cookies are third-party: SameSite=None needs Secure.
        # JupyterHub hands the same options to servers (JUPYTERHUB_COOKIE_OPTIONS).
        tornado_settings["cookie_options"] = {"samesite": "None", "secure": True}
    c.JupyterHub.tornado_settings = tornado_settings
    # Postgres restarts must cost no 5xx once it is back: each pooled connection is checked
    # on checkout (JupyterHub's ping, replaced by dbcheck's round-trip-free check when the
    # authenticator starts); recycling also drops connections a restart left half-open.
    c.JupyterHub.db_kwargs = {"pool_recycle": dbcheck.RECYCLE_SECONDS}
    services = [{"name": "coursehub", "api_token": settings.api_token}]
    roles = []
    culler = culler_service(settings)
    if culler:
        services.append(culler)
        roles.append({
            "name": "idle-culler",
            "description": "Stops idle course servers (settings: culler)",
            "scopes": CULLER_SCOPES,
            "services": [culler["name"]],
        })
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles + [
        {
            "name": "coursehub",
            "description": "The coursehub CLI and course provisioning",
            "scopes": COURSEHUB_SERVICE_SCOPES,
            "services": ["coursehub"],
        },
        {
            "name": "server",
            "description": "Course servers: nbgrader needs the user's groups and the services list",
            "scopes": SERVER_TOKEN_SCOPES,
        },
    ]
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    if settings.admin_users:
        c.Authenticator.admin_users = set(settings.admin_users)


# The spawner of each mode (settings.mode); both apply the same SpawnPlan.
SPAWNER_CLASSES = {
    "compose": "coursehub.spawners.docker.CoursehubSpawner",
    "swarm": "coursehub.spawners.swarm.CoursehubSwarmSpawner",
}


def apply_spawner(c, settings: Settings) -> None:
    """User servers: a DockerSpawner (compose) or SwarmSpawner (swarm) subclass applying the
    spawn plan. CoursehubSwarmSpawner is a CoursehubSpawner, so its settings trait is shared."""
    c.JupyterHub.spawner_class = SPAWNER_CLASSES[settings.mode]
    c.CoursehubSpawner.settings = settings
    c.DockerSpawner.network_name = settings.network
    c.DockerSpawner.use_internal_ip = True
    # Containers are disposable: state lives in bind-mounted folders of the data volume,
    # and a relaunch must never resume a container built from an older plan.
    c.DockerSpawner.remove = True
    c.DockerSpawner.prefix = settings.stack
    c.DockerSpawner.pull_policy = "ifnotpresent"
    c.DockerSpawner.image = settings.roles["student"].image
    c.Spawner.start_timeout = settings.start_timeout
    # A whole class starting at once on a small host can take minutes to answer: the wait for
    # the server's first HTTP answer follows the admin's start timeout, not a fixed 60 s.
    c.Spawner.http_timeout = settings.start_timeout
    c.Spawner.environment = {
        "COURSEHUB_FRAME_ANCESTORS": settings.csp_frame_ancestors,
    }


def apply_auth(c, settings: Settings) -> None:
    """LTI logins (both versions) and the page where a launch lands."""
    for dotted, value in lti_traits(settings).items():
        section, name = dotted.rsplit(".", 1)
        setattr(c[section], name, value)
    c.CoursehubAuthenticator.hub_tasks = [watch_routes, watch_feedback]
    course = r"/coursehub/course/([a-z0-9-]{1,30})"
    handlers = [
        (r"/coursehub/open/([a-z0-9-]{1,30})", OpenCourseHandler),
        (r"/coursehub/api/courses/([a-z0-9-]{1,30})", ProvisionCourseHandler),
        (rf"{course}/?", GradesHandler),
        (rf"{course}/(grades)", GradesHandler),
        (rf"{course}/grades/([A-Za-z0-9._-]{{1,128}})/send", SendGradesHandler),
        (rf"{course}/options", CourseOptionsHandler),
        (rf"{course}/roster", RosterHandler),
        (rf"{course}/roster/sync", RosterSyncHandler),
        (r"/coursehub/deep-link/([a-z0-9-]{1,30})", DeepLinkHandler),
        (r"/coursehub/courses", CoursesHandler),
    ]
    handlers = [(pattern, handler, {"coursehub_settings": settings}) for pattern, handler in handlers]
    if settings.dev_platform:
        handlers += devlms_handlers()
    c.CoursehubAuthenticator.extra_handlers = handlers
    # coursehub's pages extend JupyterHub's templates (JupyterHub appends its own path).
    c.JupyterHub.template_paths = [TEMPLATES]


def apply_all(c, settings: Settings) -> None:
    """Everything coursehub sets; jupyterhub_config.py calls only this."""
    apply_hub(c, settings)
    apply_spawner(c, settings)
    apply_auth(c, settings)


def describe(c) -> str:
    """The configuration as JSON, for `coursehub check-settings --show` and tests."""
    return json.dumps({k: dict(v) for k, v in c.items()}, default=str, indent=1)
