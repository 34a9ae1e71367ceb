"""One JupyterHub authenticator for LTI 1.1 and LTI 1.3 launches from several LMSs at once.

It composes ltiauthenticator 1.6.3 rather than replacing it (handlers.py, lti11.py) and reads
every deployment value from the one Settings object (core/settings.py), as the spawner does.
Each launch becomes a Launch (core/launch.py) whose course is registered on first sight,
syncs ``nbgrader-{course}`` / ``formgrade-{course}`` without dropping the user's other
courses (groups.py), and lands on ``/hub/coursehub/open/{course}``.

Every refusal is a ``checks.Refusal`` with a message a person can act on, plus one log line
``coursehub.refused kind=lti reason=... version=... platform=... ip=... message=...``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Any, Mapping
from urllib.parse import urlparse

from jupyterhub.auth import Authenticator
from jupyterhub.utils import url_path_join
from ltiauthenticator.utils import get_browser_protocol
from traitlets import Any as AnyTrait
from traitlets import CaselessStrEnum, Float, Instance, Integer, List, Unicode, default

from ..core.courses import context_key
from ..core.devplatform import DEV_ISSUER, dev_key_path, dev_platform
from ..core.launch import Launch, LaunchError, launch_from_lti11, launch_from_lti13
from ..core.logline import logline
from ..core.settings import LTI13Platform, Settings
from ..storage import dbcheck
from ..storage.platforms import PlatformEntry
from ..storage.registry import CourseBusy
from ..storage.runtime import store_for
from ..storage.schema import MAX_KEY_LENGTH
from ..storage.store import Store
from .authstate import reconcile_launch
from .checks import Refusal
from .groups import CourseGroups
from .handlers import LTI11LaunchHandler, LTI13LaunchCallbackHandler, LTI13LoginHandler
from .jwks import JWKSCache
from .lti11 import verify_lti11
from .registration import RegistrationHandler
from .services import ServiceClient
from .toolkeys import SigningKey, ToolJWKSHandler

OPEN_PATH = "coursehub/open"
DEEP_LINK_PATH = "coursehub/deep-link"


class CoursehubAuthenticator(Authenticator):
    """LTI 1.1 and 1.3 launches from any registered LMS, on one hub."""

    login_service = "your LMS"

    settings = AnyTrait(
        None,
        allow_none=True,
        config=True,
        help="""The validated coursehub Settings (set by coursehub.config): consumers,
        platforms, username keys, the tool key file, the database, the public URL.""",
    )
    lti13_state_max_age = Integer(
        600,
        config=True,
        help="""Seconds an LTI 1.3 login may take from initiation to callback; the stored
        state and nonce are refused (and later pruned) after that.""",
    )
    jwks_algorithms = List(
        Unicode(),
        ["RS256"],
        config=True,
        help="Signature algorithms accepted for platform id_tokens (IMS Security: RS256).",
    )
    jwks_cache_ttl = Float(600, config=True, help="Seconds a platform's JWKS is trusted before a refetch.")
    jwks_fetch_timeout = Float(
        5, config=True, help="Seconds to wait for a platform's JWKS; a slow LMS delays only its own launches."
    )
    jwks_min_refetch_interval = Float(
        10,
        config=True,
        help="""Least seconds between two JWKS fetches for one platform, so tokens with made-up
        key ids cannot make the hub hammer the LMS.""",
    )
    uri_scheme = CaselessStrEnum(
        ("auto", "https", "http"),
        "auto",
        config=True,
        help="""Scheme of URLs built from the request when the settings have no public URL:
        auto reads X-Scheme / X-Forwarded-Proto (set by the proxy).""",
    )
    hub_tasks = List(
        config=True,
        help="""Coroutine functions ``task(app)`` started once with the hub (they await its
        start-up themselves), e.g. coursehub.tasks.routes.watch_routes.""",
    )
    extra_handlers = List(
        config=True,
        help="""More hub handlers (pattern, class[, kwargs]) served under /hub/, e.g. the page
        where a launch opens its course server (coursehub.web.open.OpenCourseHandler).""",
    )

    store = Instance(Store, allow_none=True, help="coursehub's tables; the process's one Store.")
    jwks = Instance(JWKSCache, help="Platform JWKS cache.")
    tool_key = Instance(SigningKey, allow_none=True, help="The tool's signing key (settings.lti13_key_file).")
    dev_platform_key = Instance(SigningKey, allow_none=True, help="The dev platform's key, if enabled.")

    @default("allow_all")
    def _allow_all_default(self) -> bool:
        # Who may log in is decided by the LMS: a validly signed launch is the allow policy.
        return True

    @default("reconcile_auth_state_hook")
    def _reconcile_default(self) -> Any:
        return reconcile_launch

    @default("jwks")
    def _jwks_default(self) -> JWKSCache:
        return JWKSCache(
            ttl=self.jwks_cache_ttl,
            timeout=self.jwks_fetch_timeout,
            min_refetch_interval=self.jwks_min_refetch_interval,
        )

    @default("store")
    def _store_default(self) -> Store:
        # The hub process's one Store (runtime.store_for): the spawner, the open page and the
        # graders use it too, so there is one engine and one thread pool per database.
        store = store_for(self.settings.db_url)
        store.state_max_age = self.lti13_state_max_age
        return store

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        if self.settings is None:
            raise ValueError("CoursehubAuthenticator needs c.CoursehubAuthenticator.settings (coursehub.config)")
        self.service_client: ServiceClient | None = None
        if os.path.exists(self.settings.lti13_key_file):
            self.tool_key = SigningKey.from_file(self.settings.lti13_key_file)
            # One per hub process: its access tokens are cached across grade sends and syncs.
            self.service_client = ServiceClient(self.tool_key)
        else:
            self.log.error(logline("tool_key", action="missing", path=self.settings.lti13_key_file,
                                   message="LTI 1.3 registration and the LMS services need it; run make secrets"))
        self._dev_entry: PlatformEntry | None = None
        if self.settings.dev_platform:
            self.dev_platform_key = SigningKey.from_file(dev_key_path(self.settings.lti13_key_file))
            dev = dev_platform()
            self._dev_entry = PlatformEntry(id=0, platform=dev, enabled=True, created_at=None)
            # The hub's own platform: its keys are known, never fetched.
            self.jwks.pin(dev.jwks_url, self.dev_platform_key.jwks)
        # The settings file's platforms, as registry rows (it wins over dynamic registrations).
        self.store.sync_settings_platforms_sync(self.settings.lti13_platforms)
        self._course_ids: dict[str, str] = {}
        self.course_groups = CourseGroups()
        # The hub builds its database before its authenticator (JupyterHub.init_db).
        dbcheck.tune_hub_engine(self.parent, self.log)

    # -- platforms and URLs -----------------------------------------------------------------
    async def registrations(self, issuer: str) -> list[PlatformEntry]:
        """The registry's entries for ``issuer`` (one per client), read at every launch so that
        a registration or an admin's change needs no restart; the dev platform when it is on."""
        if not issuer:
            return []
        if issuer == DEV_ISSUER and self._dev_entry is not None:
            return [self._dev_entry]
        return await self.store.platforms_for_issuer(issuer)

    def public_base(self, request: Any) -> str:
        """scheme://host[:port] of the hub as the browser and the LMS see it."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        scheme = get_browser_protocol(request) if self.uri_scheme == "auto" else self.uri_scheme
        return f"{scheme}://{request.host}"

    def get_uri_scheme(self, request: Any) -> str:
        # Upstream handlers and the LTI 1.1 XML config handler call this.
        return urlparse(self.public_base(request)).scheme

    def login_url(self, base_url: str) -> str:
        return url_path_join(base_url, "lti/launch")

    def callback_url(self, base_url: str) -> str:
        return url_path_join(base_url, "lti13/oauth_callback")

    def get_custom_html(self, base_url: str) -> str:
        # The hub's login page: there is no password form; people arrive from their LMS.
        return (
            '<div class="text-center"><h2>Open this tool from your course</h2>'
            "<p>coursehub logs you in when you open its link in your LMS course.</p></div>"
        )

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        # JupyterHub asks once, from its (async) initialize: the one place an authenticator
        # meets the app, so the hub's background tasks start here.
        if not getattr(self, "_tasks", None):
            self._tasks = [asyncio.ensure_future(task(app)) for task in self.hub_tasks]
        handlers: list[tuple[str, Any]] = [
            ("/lti/launch", LTI11LaunchHandler),
            ("/lti13/oauth_login", LTI13LoginHandler),
            ("/lti13/oauth_callback", LTI13LaunchCallbackHandler),
            ("/lti13/jwks", ToolJWKSHandler),
            ("/lti13/register", RegistrationHandler),
        ]
        handlers += list(self.extra_handlers)
        return handlers

    # -- refusals ---------------------------------------------------------------------------
    def refuse(
        self, handler: Any, status: int, reason: str, version: str, platform: str, message: str
    ) -> Refusal:
        """Logs one line and returns the HTTPError to raise."""
        self.log.warning(logline(
            "refused", kind="lti", reason=reason, version=version, platform=platform or None,
            ip=handler.request.remote_ip, message=message,
        ))
        return Refusal(status, reason, message)

    # -- authentication ---------------------------------------------------------------------
    async def authenticate(self, handler: Any, data: Any = None) -> dict[str, Any] | None:
        if isinstance(handler, LTI11LaunchHandler):
            return await self._authenticate_lti11(handler)
        if isinstance(handler, LTI13LaunchCallbackHandler) and data and data.get("version") == "1.3":
            return await self._authenticate_lti13(handler, data["id_token"], data["platform"])
        # /hub/login with a form: there is no password login on this hub.
        return None

    async def _authenticate_lti11(self, handler: Any) -> dict[str, Any]:
        consumer_key, fields = await verify_lti11(self, handler)
        try:
            launch = launch_from_lti11(fields, consumer_key, self.settings.lti11_username_key)
        except LaunchError as error:
            raise self.refuse(handler, error.status, "bad_launch", "1.1", consumer_key, error.message)
        return await self._auth_model(handler, launch, "1.1", consumer_key, fields)

    async def _authenticate_lti13(
        self, handler: Any, claims: dict[str, Any], platform: LTI13Platform
    ) -> dict[str, Any]:
        try:
            launch = launch_from_lti13(claims, self.settings.lti13_username_key)
        except LaunchError as error:
            raise self.refuse(handler, error.status, "bad_launch", "1.3", platform.issuer, error.message)
        if launch.is_deep_linking:
            if launch.role == "student":
                raise self.refuse(handler, 403, "deep_link_student", "1.3", platform.issuer,
                                  "Only the course's instructors and teaching assistants can add coursehub "
                                  "links to it; as a student, open a link your instructor made.")
            if not str(launch.deep_linking.get("deep_link_return_url") or "").startswith(("https://", "http://")):
                raise self.refuse(handler, 400, "bad_deep_link", "1.3", platform.issuer,
                                  "The LMS's deep linking request has no deep_link_return_url.")
        return await self._auth_model(handler, launch, "1.3", platform.issuer, claims)

    async def _auth_model(
        self, handler: Any, launch: Launch, version: str, platform: str, claims: Mapping[str, Any]
    ) -> dict[str, Any]:
        course_id = await self.resolve_course(handler, launch, version)
        launch = dataclasses.replace(launch, course_id=course_id)
        handler.coursehub_launch = launch
        name = self.normalize_username(launch.username)
        handler.coursehub_auth_model = model = {
            "name": name,
            "admin": self.launch_is_admin(name, launch),
            # None: JupyterHub's sync_groups would replace every membership; the handler calls
            # sync_course_groups on the loaded user after login instead (one lookup, not two).
            "groups": None,
            # The other courses' launches join in authstate.keep_course_launches. A deep linking
            # request is kept beside them: it must not become the course server's launch.
            "auth_state": {
                "version": version,
                "platform": platform,
                "launch": launch.to_dict(),
                "launches": {} if launch.is_deep_linking else {course_id: launch.to_dict()},
                "deep_linking": {course_id: launch.to_dict()} if launch.is_deep_linking else {},
                "claims": dict(claims),
            },
        }
        return model

    def sync_course_groups(self, user: Any, launch: Launch | None) -> None:
        """Sets this course's group on the user who just logged in (groups.py: the rows
        JupyterHub's sync_groups would write, keeping the user's other courses)."""
        if user is not None and launch is not None:
            self.course_groups.apply(user.db, user.orm_user, launch.course_id, launch.role)

    def launch_is_admin(self, name: str, launch: Launch) -> bool:
        return name in self.admin_users or (self.settings.lms_admins_are_hub_admins and launch.is_lms_admin)

    async def resolve_course(self, handler: Any, launch: Launch, version: str) -> str:
        """The course id of the launch's context; registers a new context (race-safe)."""
        key = context_key(launch.platform, launch.context_id)
        if len(launch.context_id) > MAX_KEY_LENGTH:
            raise self.refuse(handler, 400, "bad_launch", version, launch.platform,
                              "The LMS's course id (context_id) is longer than 255 characters.")
        # Course ids never move once registered (they name servers, groups and services), so
        # a process-local map saves one database round trip per launch.
        cached = self._course_ids.get(key)
        if cached:
            return cached
        try:
            row, created = await self.store.register_course(
                launch.platform, launch.context_id, launch.context_label, launch.context_title,
                self.settings.course_id_source,
            )
        except CourseBusy:
            raise self.refuse(handler, 503, "course_busy", version, launch.platform,
                              "The course could not be registered (database busy); launch again.") from None
        if created:
            self.log.info(logline("course", action="registered", course=row.course_id, context=key,
                                  title=launch.context_title))
        self._course_ids[key] = row.course_id
        return row.course_id

    # -- after login ------------------------------------------------------------------------
    def launch_redirect(self, handler: Any, launch: Launch | None, state_next: str = "") -> str:
        """Where a launch lands: ``custom_next`` / ``next`` if it stays on this hub, else the course.

        An LTI 1.3 ``target_link_uri`` pointing at the hub's root is not an explicit next.
        """
        if launch is not None and launch.is_deep_linking:
            return url_path_join(handler.hub.base_url, DEEP_LINK_PATH, launch.course_id)
        default = url_path_join(handler.hub.base_url, OPEN_PATH, launch.course_id) if launch else \
            url_path_join(handler.hub.base_url, "home")
        candidates = []
        if launch is not None and launch.custom.get("next"):
            candidates.append(launch.custom["next"])
        if state_next:
            candidates.append(state_next)
        roots = {"/", handler.base_url, handler.hub.base_url, handler.hub.base_url.rstrip("/")}
        for candidate in candidates:
            safe = handler._validate_next_url(candidate)
            if not safe or safe in roots or urlparse(safe).path in roots:
                continue
            if not safe.startswith(handler.base_url) or safe.startswith(url_path_join(handler.hub.base_url, "lti")):
                continue
            return safe
        return default


def lti_traits(settings: Settings) -> dict[str, Any]:
    """Every trait the LTI layer needs, as {"Class.trait": value}, for coursehub.config to set."""
    return {
        "JupyterHub.authenticator_class": "coursehub.lti.authenticator.CoursehubAuthenticator",
        "Authenticator.allow_all": True,
        "Authenticator.manage_groups": True,
        "Authenticator.enable_auth_state": True,
        "CoursehubAuthenticator.settings": settings,
        # Authenticator.admin_users comes from config.apply_hub (settings.admin_users).
    }
