"""One JupyterHub authenticator for LTI 1.1 and LTI 1.3 launches from several LMSs at once.

It composes ltiauthenticator 1.6.3 rather than replacing it: upstream's handlers (subclassed
at the narrowest method), its ``LTI11LaunchValidator`` (OAuth1 signature through oauthlib)
and its ``LTI13LaunchValidator`` (LTI claim checks) do the protocol work; PyJWT verifies the
id_token with a key from jwks.py. What is ours closes the gaps listed in DESIGN 9:

- LTI 1.1 nonces are remembered in the hub database, recorded only after the signature holds;
- LTI 1.3 serves several platforms (looked up by ``iss`` at initiation and again at the
  callback), checks ``deployment_id``, keeps state + nonce server-side and consumes them once;
- JWKS fetches leave the event loop;
- every launch syncs ``nbgrader-{course}`` / ``formgrade-{course}`` without dropping the
  user's other courses, and lands on ``/hub/coursehub/open/{course}``.

Every refusal is an HTTPError with a message a person can act on, plus one log line
``coursehub.refused kind=lti reason=... version=... platform=... ip=... message=...``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from http.client import responses
from typing import Any, Mapping
from urllib.parse import urlparse

import jwt
from sqlalchemy.orm import object_session
from jupyterhub.auth import Authenticator
from jupyterhub.orm import utcnow as orm_utcnow
from jupyterhub.utils import url_path_join
from ltiauthenticator.lti11.handlers import LTI11AuthenticateHandler
from ltiauthenticator.lti11.validator import LTI11LaunchValidator
from ltiauthenticator.lti13.error import InvalidAudienceError, TokenError, ValidationError
from ltiauthenticator.lti13.handlers import LTI13CallbackHandler, LTI13LoginInitHandler
from ltiauthenticator.lti13.validator import LTI13LaunchValidator
from ltiauthenticator.utils import convert_request_to_dict, get_browser_protocol
from tornado.httputil import url_concat
from tornado.web import HTTPError
from traitlets import Bool, CaselessStrEnum, Dict, Float, Instance, Integer, List, Unicode, default

from . import dbcheck, devplatform
from .courses import context_key, resolve_course_id
from .hubgroups import CourseGroups
from .jwks import JWKSCache, JWKSUnavailableError, UnknownKeyError
from .launch import DEPLOYMENT_CLAIM, Launch, LaunchError, launch_from_lti11, launch_from_lti13
from .logline import logline
from .settings import LTI13Platform, Settings
from .store import MAX_KEY_LENGTH, MAX_NONCE_LENGTH, CourseRow, LTI13State, Store
from .toolkeys import SigningKey, ToolJWKSHandler

# Upstream refuses LTI 1.1 timestamps further than this from the hub's clock (lti11/validator.py).
LTI11_TIMESTAMP_WINDOW = 30
# Auth model key (never stored) for a user created by the launch: (orm user, course, role).
NEW_MEMBER = "coursehub_new_member"
OPEN_PATH = "coursehub/open"


class Refusal(HTTPError):
    """An LTI launch refused for ``reason`` (a short code for logs and tests). The message goes
    to the error page only (``jupyterhub_message``): refuse() has logged it once, structured,
    and tornado would log a second, unquoted copy of any ``log_message``."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(status, reason=responses.get(status))
        self.refusal = reason
        self.message = self.jupyterhub_message = message


def _decode_state(state: str) -> dict[str, Any]:
    """Reads upstream's state (urlsafe base64 of JSON {state_id, next_url}); {} if malformed."""
    try:
        value = json.loads(base64.urlsafe_b64decode(state.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error):
        return {}
    return value if isinstance(value, dict) else {}


def state_refusal(
    row: LTI13State | None, issuer: str, audiences: list[str], nonce: str, max_age: float,
    now: float | None = None,
) -> tuple[int, str, str]:
    """Why a verified id_token could not claim its login's stored state (status, reason, text)."""
    if row is None:
        return 400, "unknown_state", "This login is unknown to the hub (state)."
    if row.used_at is not None:
        return 400, "replayed_state", "This login was already used once."
    if row.expired(max_age, now):
        return 400, "expired_state", f"This login took longer than {max_age:g} s."
    if row.issuer != issuer:
        return 401, "wrong_issuer", f"The id_token comes from {issuer!r} but the login started at {row.issuer!r}."
    if row.client_id not in audiences:
        return 401, "wrong_audience", f"The id_token is not for client {row.client_id!r}, which started this login."
    if nonce != row.nonce:
        return (401, "nonce_mismatch", "The id_token does not belong to this login (nonce); it was "
                "replayed or belongs to another login.")
    # Everything matched but another request claimed it first.
    return 400, "replayed_state", "This login was already used once."


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [str(a) for a in aud or []]


class _NoNonceMemory(dict):
    """Stands in for upstream's class-wide LTI 1.1 nonce cache and remembers nothing.

    NOTE: ltiauthenticator 1.6.3 (lti11/validator.py) checks and *records* (timestamp, nonce)
    in ``LTI11LaunchValidator.nonces``, a process-wide ``TTLCache(35, 35.0)``, before it
    verifies the signature, so a forged request could burn a real launch's nonce and a
    restart forgets them all. The replay check is ``Store.use_lti11_nonce`` instead, made only
    after the signature holds. Upstream reads the attribute through the class name, so a
    subclass attribute cannot shadow it; replacing it is the one monkeypatch in coursehub.
    """

    def __contains__(self, key: object) -> bool:
        return False

    def setdefault(self, key: Any, default: Any = None) -> set:
        return set()


class CoursehubLTI11Validator(LTI11LaunchValidator):
    """Upstream's LTI 1.1 validator with its in-process nonce memory switched off."""

    def __init__(self, consumers: Mapping[str, str]):
        if not isinstance(LTI11LaunchValidator.nonces, _NoNonceMemory):
            LTI11LaunchValidator.nonces = _NoNonceMemory()
        super().__init__(dict(consumers))


class LaunchLogin:
    """What both launch handlers do once the launch is verified: log the user in (JupyterHub's
    login_user, which calls authenticate), refuse when the hub admits nobody, and set the
    course's group on the user JupyterHub just loaded."""

    async def login_launch(self, version: str, platform: str, data: Any = None) -> Launch | None:
        auth: CoursehubAuthenticator = self.authenticator
        user = await self.login_user(data)
        if user is None:
            raise auth.refuse(
                self, 403, "not_allowed", version, platform,
                "The launch was valid but this hub does not admit the user; an admin checks "
                "the hub's allow settings (Authenticator.allow_all).",
            )
        launch = getattr(self, "coursehub_launch", None)
        auth.sync_course_groups(user, launch)
        return launch

    def user_from_username(self, username: str) -> Any:
        """JupyterHub's, plus: marks a user this launch creates, so that it joins the course
        group in the commit that saves its auth_state (``reconcile_launch``).

        JupyterHub's auth_to_user calls this only for a name find_user did not find; the
        creation time tells for certain (a user found, not created, is older than ``started``).
        Joining here instead would flush the membership on its own at JupyterHub's next query
        (assign_default_roles): a whole extra unit of work, 0.4 ms per login (py-spy).
        """
        started = orm_utcnow()
        user = super().user_from_username(username)
        launch = getattr(self, "coursehub_launch", None)
        model = getattr(self, "coursehub_auth_model", None)
        created = user.orm_user.created
        if launch is not None and model is not None and created is not None and created >= started:
            model[NEW_MEMBER] = (user.orm_user, launch.course_id, launch.role)
        return user


class LTI11LaunchHandler(LaunchLogin, LTI11AuthenticateHandler):
    """``POST /hub/lti/launch``. Upstream's handler (no _xsrf check, hub cookie always set).

    Only ``post`` changes: upstream redirects to ``custom_next`` unchecked (an open redirect)
    and redirects even when nobody was logged in.
    """

    async def post(self) -> None:
        launch = await self.login_launch("1.1", "")
        self.redirect(self.authenticator.launch_redirect(self, launch))


class LTI13LoginHandler(LTI13LoginInitHandler):
    """``/hub/lti13/oauth_login`` (GET or POST): OIDC login initiation from any registered LMS.

    Upstream validates the request, sets its state and nonce cookies and redirects to one
    configured authorize URL. Here the platform is looked up by ``iss`` first (unknown issuers
    are refused), client and deployment are checked, and state + nonce are also stored
    server-side so that the callback can consume them exactly once.
    """

    platform: LTI13Platform | None = None

    async def post(self) -> None:
        auth: CoursehubAuthenticator = self.authenticator
        args = convert_request_to_dict(self.request.arguments)
        issuer = args.get("iss", "")
        try:
            LTI13LaunchValidator(parent=self.app).validate_login_request(args)
        except ValidationError as error:
            raise auth.refuse(
                self, 400, "bad_login_request", "1.3", issuer,
                f"The LMS's LTI 1.3 login request is incomplete ({error}). Check the tool's "
                "login initiation URL in the LMS; open the tool from a course page.",
            )
        platform = auth.platform_for_issuer(issuer)
        if platform is None:
            raise auth.refuse(
                self, 400, "unknown_issuer", "1.3", issuer,
                f"This LMS (issuer {issuer!r}) is not registered with coursehub. An admin adds "
                "it under lti13.platforms in the settings file, with exactly this issuer.",
            )
        client_id = args.get("client_id") or (
            platform.client_ids[0] if len(platform.client_ids) == 1 else ""
        )
        if client_id not in platform.client_ids:
            raise auth.refuse(
                self, 400, "unknown_client", "1.3", issuer,
                f"Client id {client_id or '(none)'!r} is not registered for this LMS; an admin "
                "adds it to client_ids of the platform in the settings file.",
            )
        deployment = args.get("lti_deployment_id")
        if deployment and deployment not in platform.deployment_ids:
            raise auth.refuse(
                self, 403, "unknown_deployment", "1.3", issuer,
                f"Deployment {deployment!r} of this LMS is not registered with coursehub; an "
                "admin adds it to deployment_ids of the platform in the settings file.",
            )
        self.platform = platform
        state = self.generate_state()
        nonce = self.generate_nonce()
        await auth.store.create_lti13_state(_decode_state(state)["state_id"], nonce, issuer, client_id)
        self.authorize_redirect(
            redirect_uri=self.get_redirect_uri(),
            login_hint=args["login_hint"],
            nonce=nonce,
            client_id=client_id,
            state=state,
            lti_message_hint=args.get("lti_message_hint"),
        )

    get = post

    def authorize_redirect(
        self,
        redirect_uri: str,
        login_hint: str,
        nonce: str,
        client_id: str,
        state: str,
        lti_message_hint: str | None = None,
    ) -> None:
        # NOTE: upstream's authorize_redirect reads the single ``authenticator.authorize_url``;
        # this is the same OIDC authentication request (IMS Security 5.1.1.2) sent to the
        # authorize URL of the platform that started this login.
        assert self.platform is not None
        params = {
            "response_type": "id_token",
            "scope": "openid",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "login_hint": login_hint,
            "nonce": nonce,
            "state": state,
        }
        if lti_message_hint is not None:
            params["lti_message_hint"] = lti_message_hint
        self.redirect(url_concat(self.platform.authorize_url, params))

    def get_redirect_uri(self) -> str:
        auth: CoursehubAuthenticator = self.authenticator
        return auth.public_base(self.request) + auth.callback_url(self.hub.base_url)


class LTI13LaunchCallbackHandler(LaunchLogin, LTI13CallbackHandler):
    """``POST /hub/lti13/oauth_callback``: verifies the id_token and logs the user in.

    Upstream's ``decode_and_validate_launch_request`` is synchronous (it fetches the JWKS on
    the event loop) and knows one issuer; ``post`` is replaced to await ours. Upstream's
    ``check_state`` / ``check_nonce`` cookie checks and its claim validator still run.
    """

    async def post(self) -> None:
        auth: CoursehubAuthenticator = self.authenticator
        claims, platform = await self.verify_launch()
        launch = await self.login_launch(
            "1.3", platform.issuer, {"version": "1.3", "id_token": claims, "platform": platform}
        )
        self.redirect(auth.launch_redirect(self, launch, self._state_next()))

    def _state_next(self) -> str:
        return _decode_state(self.get_argument("state", "")).get("next_url") or ""

    async def verify_launch(self) -> tuple[dict[str, Any], LTI13Platform]:
        auth: CoursehubAuthenticator = self.authenticator
        args = convert_request_to_dict(self.request.arguments)
        validator = LTI13LaunchValidator(parent=self.app)

        def refuse(status: int, reason: str, message: str, issuer: str = "") -> Refusal:
            return auth.refuse(self, status, reason, "1.3", issuer, message)

        try:
            validator.validate_auth_response(args)
        except ValidationError as error:
            raise refuse(400, "bad_callback", f"The LMS answered without a launch ({error}).")
        restart = "Open the tool again from the course page in the LMS."
        try:
            self.check_state()
        except HTTPError as error:
            if "missing" in (error.log_message or ""):
                why = "the browser did not send back the login cookie"
                hint = " If the tool is embedded in the LMS page, open it in a new window."
            else:
                why = "the login cookie belongs to another login"
                hint = ""
            raise refuse(400, "state_cookie", f"{error.log_message}: {why}. {restart}{hint}")
        state_id = str(_decode_state(args["state"]).get("state_id") or "")
        token = args["id_token"]
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise refuse(400, "bad_token", f"The id_token from the LMS is not a valid JWT ({error}).")
        issuer = str(unverified.get("iss") or "")
        platform = auth.platform_for_issuer(issuer)
        if platform is None:
            raise refuse(
                401, "wrong_issuer",
                f"The id_token's issuer {issuer!r} is not a registered LMS.", issuer,
            )
        try:
            key = await auth.jwks.get_signing_key(platform.jwks_url, header.get("kid"))
        except UnknownKeyError as error:
            raise refuse(401, "unknown_kid", f"Cannot verify the id_token: {error}.", issuer)
        except JWKSUnavailableError as error:
            raise refuse(503, "jwks_unavailable", f"Cannot verify the id_token now: {error}.", issuer)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(auth.jwks_algorithms),
                audience=list(platform.client_ids),
                issuer=platform.issuer,
                leeway=validator.time_leeway,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise refuse(
                401, "expired_token",
                f"The id_token has expired; check the clocks of the LMS and the hub. {restart}", issuer,
            )
        except jwt.InvalidAudienceError:
            raise refuse(
                401, "wrong_audience",
                f"The id_token is for client {unverified.get('aud')!r}, not a client id registered "
                "for this LMS in the settings file.", issuer,
            )
        except jwt.InvalidIssuerError:
            raise refuse(401, "wrong_issuer", f"The id_token's issuer is not {platform.issuer!r}.", issuer)
        except jwt.InvalidSignatureError:
            raise refuse(
                401, "bad_signature",
                "The id_token's signature does not match the LMS's published keys.", issuer,
            )
        except jwt.PyJWTError as error:
            raise refuse(401, "invalid_token", f"The id_token is not acceptable: {error}.", issuer)
        nonce = claims.get("nonce")
        if not nonce:
            raise refuse(400, "missing_nonce", f"The id_token carries no nonce. {restart}", issuer)
        try:
            validator.validate_id_token(claims)
            validator.validate_azp_claim(claims, set(platform.client_ids))
        except InvalidAudienceError as error:
            raise refuse(401, "wrong_audience", f"The id_token's audience is wrong: {error}.", issuer)
        except TokenError as error:
            raise refuse(401, "expired_token", f"The id_token is too old ({error}). {restart}", issuer)
        except ValidationError as error:
            raise refuse(400, "invalid_claims", f"The LMS's launch lacks an LTI field: {error}.", issuer)
        deployment = str(claims.get(DEPLOYMENT_CLAIM) or "")
        if deployment not in platform.deployment_ids:
            raise refuse(
                403, "wrong_deployment",
                f"Deployment {deployment!r} of this LMS is not registered with coursehub; an "
                "admin adds it to deployment_ids of the platform in the settings file.", issuer,
            )
        # One statement consumes the login's server-side state if - and only if - everything
        # it must match does; a refusal reads the row once more to say what did not.
        audiences = _audiences(claims)
        if not state_id or not await auth.store.claim_lti13_state(state_id, nonce, platform.issuer, audiences):
            row = await auth.store.get_lti13_state(state_id) if state_id else None
            status, reason, message = state_refusal(row, platform.issuer, audiences, nonce,
                                                    auth.lti13_state_max_age)
            raise refuse(status, reason, f"{message} {restart}", issuer)
        try:
            self.check_nonce(claims)
        except HTTPError as error:
            raise refuse(400, "nonce_cookie", f"{error.log_message}. {restart}", issuer)
        return claims, platform


class CoursehubAuthenticator(Authenticator):
    """LTI 1.1 and 1.3 launches from any registered LMS, on one hub."""

    login_service = "your LMS"

    lti11_consumers = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="""LTI 1.1 consumer keys and their shared secrets, {key: secret}. Each LMS (or
        each tool registration) gets its own key; the key also namespaces usernames and
        course ids, so never re-use a key for another LMS.""",
    )
    lti11_username_key = Unicode(
        "user_id",
        config=True,
        help="""LTI 1.1 launch field that names the user (e.g. user_id,
        lis_person_contact_email_primary, custom_username). Falls back to user_id.""",
    )
    lti13_username_key = Unicode(
        "sub",
        config=True,
        help="""id_token claim that names the user (e.g. sub, email; custom_x reads x from
        the custom claim). Falls back to sub.""",
    )
    lti13_platforms = List(
        Dict(),
        config=True,
        help="""Registered LTI 1.3 platforms, each a dict with issuer, client_ids,
        deployment_ids, authorize_url, jwks_url and optional name (see settings.LTI13Platform).
        A launch is accepted only from a listed issuer, client id and deployment.""",
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
    tool_key_file = Unicode(
        "",
        config=True,
        help="""PEM file of the tool's RSA private key (LTI 1.3). Its public half is served at
        /hub/lti13/jwks for the LMS registration. Empty: no tool key set.""",
    )
    dev_platform = Bool(
        False,
        config=True,
        help="""Register the built-in development platform (issuer
        https://coursehub.invalid/dev-platform, client coursehub-dev, deployment 1) and serve
        its authorize and JWKS endpoints, so `coursehub launch --lti 1.3` works without an
        LMS. Never enable on a production hub.""",
    )
    dev_platform_key_file = Unicode(
        "", config=True, help="PEM file of the development platform's RSA key (when dev_platform)."
    )
    db_url = Unicode(
        "sqlite:///jupyterhub.sqlite",
        config=True,
        help="Database of coursehub's tables (the hub's own database): courses, uids, LTI nonces and states.",
    )
    public_url = Unicode(
        "",
        config=True,
        help="""The hub's public scheme://host[:port] as the LMS sees it. When set, LTI 1.1
        signatures and the LTI 1.3 redirect URI are built from it instead of request headers.""",
    )
    uri_scheme = CaselessStrEnum(
        ("auto", "https", "http"),
        "auto",
        config=True,
        help="""Scheme of URLs built from the request when public_url is empty: auto reads
        X-Scheme / X-Forwarded-Proto (set by the proxy).""",
    )
    lms_admins_are_hub_admins = Bool(
        False,
        config=True,
        help="""Make users whom the LMS calls administrators hub admins. Otherwise admin comes
        only from Authenticator.admin_users.""",
    )
    extra_handlers = List(
        config=True,
        help="""More hub handlers (pattern, class[, kwargs]) served under /hub/, e.g. the page
        where a launch opens its course server (coursehub.handlers.OpenCourseHandler).""",
    )
    course_id_source = CaselessStrEnum(
        ("label", "id"),
        "label",
        config=True,
        help="Derive new course ids from the LMS course label (short name) or its context id.",
    )

    store = Instance(Store, allow_none=True, help="coursehub's tables; built from db_url on first use.")
    jwks = Instance(JWKSCache, help="Platform JWKS cache.")
    tool_key = Instance(SigningKey, allow_none=True, help="The tool's signing key, if tool_key_file is set.")
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
        from .runtime import store_for

        store = store_for(self.db_url)
        store.state_max_age = self.lti13_state_max_age
        return store

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        if self.tool_key_file:
            self.tool_key = SigningKey.from_file(self.tool_key_file)
        if self.dev_platform:
            self.dev_platform_key = SigningKey.from_file(self.dev_platform_key_file)
        self._hub_prefix = "/hub/"
        self._course_ids: dict[str, str] = {}
        self.course_groups = CourseGroups()
        # The hub builds its database before its authenticator (JupyterHub.init_db).
        dbcheck.tune_hub_engine(self.parent, self.log)

    # -- platforms and URLs -----------------------------------------------------------------
    def platforms(self) -> dict[str, LTI13Platform]:
        found = {p["issuer"]: _platform(p) for p in self.lti13_platforms}
        if self.dev_platform and self.dev_platform_key is not None:
            dev = devplatform.dev_platform(self._hub_prefix)
            found[dev.issuer] = dev
            self.jwks.pin(dev.jwks_url, self.dev_platform_key.jwks)
        return found

    def platform_for_issuer(self, issuer: str) -> LTI13Platform | None:
        return self._platforms.get(issuer) if issuer else None

    @property
    def _platforms(self) -> dict[str, LTI13Platform]:
        if not hasattr(self, "_platform_cache"):
            self._platform_cache = self.platforms()
        return self._platform_cache

    def public_base(self, request: Any) -> str:
        """scheme://host[:port] of the hub as the browser and the LMS see it."""
        if self.public_url:
            return self.public_url.rstrip("/")
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
        self._hub_prefix = getattr(app, "hub_prefix", "/hub/")
        self.__dict__.pop("_platform_cache", None)
        handlers: list[tuple[str, Any]] = [
            ("/lti/launch", LTI11LaunchHandler),
            ("/lti13/oauth_login", LTI13LoginHandler),
            ("/lti13/oauth_callback", LTI13LaunchCallbackHandler),
            ("/lti13/jwks", ToolJWKSHandler),
        ]
        handlers += list(self.extra_handlers)
        if self.dev_platform:
            handlers += [
                ("/" + devplatform.AUTHORIZE_PATH, devplatform.DevAuthorizeHandler),
                ("/" + devplatform.JWKS_PATH, devplatform.DevJWKSHandler),
            ]
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
        args = convert_request_to_dict(handler.request.arguments)
        consumer_key = args.get("oauth_consumer_key", "")

        def refuse(status: int, reason: str, message: str) -> Refusal:
            return self.refuse(handler, status, reason, "1.1", consumer_key, message)

        if consumer_key not in self.lti11_consumers:
            raise refuse(
                401, "unknown_key",
                f"Consumer key {consumer_key!r} is not registered with coursehub. Copy the key "
                "and secret printed by `coursehub lti-config` into the LMS's tool settings.",
            )
        raw_timestamp = args.get("oauth_timestamp", "")
        # Upstream turns a non-numeric timestamp into a 500 (int() outside its try).
        if not raw_timestamp.isdigit():
            raise refuse(400, "bad_timestamp", "The launch has no valid oauth_timestamp.")
        skew = int(time.time()) - int(raw_timestamp)
        if abs(skew) > LTI11_TIMESTAMP_WINDOW:
            raise refuse(
                401, "stale_timestamp",
                f"The launch is {abs(skew)} s {'old' if skew > 0 else 'in the future'} (at most "
                f"{LTI11_TIMESTAMP_WINDOW} s allowed). Open the tool again from the LMS; if it "
                "keeps happening, the clocks of the LMS server and the hub disagree (check NTP).",
            )
        nonce = args.get("oauth_nonce", "")
        if len(nonce) > MAX_NONCE_LENGTH or len(consumer_key) > MAX_KEY_LENGTH:
            raise refuse(400, "bad_nonce", "The launch's oauth_nonce is too long.")
        launch_url = self.public_base(handler.request) + handler.request.uri
        try:
            CoursehubLTI11Validator(self.lti11_consumers).validate_launch_request(
                launch_url, handler.request.headers, args
            )
        except HTTPError as error:
            if "signature" in (error.log_message or ""):
                raise refuse(
                    401, "bad_signature",
                    "The launch signature is invalid: the shared secret in the LMS does not match "
                    f"key {consumer_key!r}, or the launch URL is not exactly {launch_url.split('?')[0]} "
                    "(a proxy must keep Host and X-Forwarded-Proto).",
                )
            raise refuse(error.status_code, "bad_request", f"The LMS's launch is incomplete: {error.log_message}.")
        if not await self.store.use_lti11_nonce(consumer_key, nonce, int(raw_timestamp)):
            raise refuse(
                401, "replayed_nonce",
                "This launch was already used (its oauth_nonce was seen before). Each launch "
                "works once: open the tool again from the LMS.",
            )
        fields = {k: v for k, v in args.items() if not k.startswith("oauth_")}
        try:
            launch = launch_from_lti11(fields, consumer_key, self.lti11_username_key)
        except LaunchError as error:
            raise refuse(error.status, "bad_launch", error.message)
        return await self._auth_model(handler, launch, "1.1", consumer_key, fields)

    async def _authenticate_lti13(
        self, handler: Any, claims: dict[str, Any], platform: LTI13Platform
    ) -> dict[str, Any]:
        try:
            launch = launch_from_lti13(claims, self.lti13_username_key)
        except LaunchError as error:
            raise self.refuse(handler, error.status, "bad_launch", "1.3", platform.issuer, error.message)
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
            # The other courses' launches join in keep_course_launches (reconcile hook).
            "auth_state": {
                "version": version,
                "platform": platform,
                "launch": launch.to_dict(),
                "launches": {course_id: launch.to_dict()},
                "claims": dict(claims),
            },
        }
        return model

    def sync_course_groups(self, user: Any, launch: Launch | None) -> None:
        """Sets this course's group on the user who just logged in (hubgroups: the rows
        JupyterHub's sync_groups would write, keeping the user's other courses)."""
        if user is not None and launch is not None:
            self.course_groups.apply(user.db, user.orm_user, launch.course_id, launch.role)

    def launch_is_admin(self, name: str, launch: Launch) -> bool:
        return name in self.admin_users or (self.lms_admins_are_hub_admins and launch.is_lms_admin)

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
        for _ in range(5):
            known = await self.store.course_for_context(key)
            if known is not None:
                self._course_ids[key] = known.course_id
                return known.course_id
            registry = await self.store.course_registry()
            course_id = resolve_course_id(
                launch.platform, launch.context_id, launch.context_label, launch.context_title,
                registry, self.course_id_source,
            )
            row = CourseRow(
                course_id=course_id,
                context_key=key,
                platform=launch.platform[:MAX_KEY_LENGTH],
                context_id=launch.context_id,
                label=launch.context_label[:MAX_KEY_LENGTH],
                title=launch.context_title[:1024],
            )
            if await self.store.add_course(row):
                self._course_ids[key] = course_id
                self.log.info(logline("course", action="registered", course=course_id, context=key, title=launch.context_title))
                return course_id
            # Lost a race: another launch registered this context or took this id; look again.
        raise self.refuse(handler, 503, "course_busy", version, launch.platform,
                          "The course could not be registered (database busy); launch again.")

    # -- after login ------------------------------------------------------------------------
    def launch_redirect(self, handler: Any, launch: Launch | None, state_next: str = "") -> str:
        """Where a launch lands: ``custom_next`` / ``next`` if it stays on this hub, else the course.

        An LTI 1.3 ``target_link_uri`` pointing at the hub's root is not an explicit next.
        """
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


def reconcile_launch(
    authenticator: Any, auth_model: dict[str, Any], existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """JupyterHub's reconcile_auth_state_hook, the last step of its auth_to_user before the
    commit that saves auth_state: a user this launch created joins the course group here, so
    the membership is written by that same commit (LaunchLogin.user_from_username)."""
    new_member = auth_model.pop(NEW_MEMBER, None)
    if new_member is not None:
        orm_user, course, role = new_member
        authenticator.course_groups.apply_new_user(object_session(orm_user), orm_user, course, role)
    return keep_course_launches(authenticator, auth_model, existing)


def keep_course_launches(
    authenticator: Any, auth_model: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """JupyterHub's reconcile_auth_state_hook: auth_state is replaced at every login, but each
    course server is planned from the latest launch of its own course, so the launches of the
    user's other courses are kept next to this one."""
    new = dict(auth_model["auth_state"])
    new["launches"] = {**((existing or {}).get("launches") or {}), **(new.get("launches") or {})}
    return new


def _platform(data: Mapping[str, Any]) -> LTI13Platform:
    return LTI13Platform(
        issuer=str(data["issuer"]),
        client_ids=tuple(str(c) for c in data.get("client_ids", ())),
        deployment_ids=tuple(str(d) for d in data.get("deployment_ids", ())),
        authorize_url=str(data["authorize_url"]),
        jwks_url=str(data["jwks_url"]),
        name=str(data.get("name") or data["issuer"]),
    )


def lti_traits(settings: Settings) -> dict[str, Any]:
    """Every trait the LTI layer needs, as {"Class.trait": value}, for apply.py to set."""
    traits: dict[str, Any] = {
        "JupyterHub.authenticator_class": "coursehub.lti.CoursehubAuthenticator",
        "Authenticator.allow_all": True,
        "Authenticator.manage_groups": True,
        "Authenticator.enable_auth_state": True,
        "CoursehubAuthenticator.lti11_consumers": dict(settings.lti11_consumers),
        "CoursehubAuthenticator.lti11_username_key": settings.lti11_username_key,
        "CoursehubAuthenticator.lti13_username_key": settings.lti13_username_key,
        "CoursehubAuthenticator.lti13_platforms": [dataclasses.asdict(p) for p in settings.lti13_platforms],
        "CoursehubAuthenticator.tool_key_file": settings.lti13_key_file,
        "CoursehubAuthenticator.dev_platform": settings.dev_platform,
        "CoursehubAuthenticator.dev_platform_key_file": str(devplatform.dev_key_path(settings.lti13_key_file)),
        "CoursehubAuthenticator.db_url": settings.db_url,
        "CoursehubAuthenticator.public_url": settings.public_url,
        "CoursehubAuthenticator.lms_admins_are_hub_admins": settings.lms_admins_are_hub_admins,
        "CoursehubAuthenticator.course_id_source": settings.course_id_source,
    }
    # Authenticator.admin_users comes from apply.apply_hub (settings.admin_users).
    return traits
