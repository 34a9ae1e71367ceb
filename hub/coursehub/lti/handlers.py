"""The LTI launch handlers, subclasses of ltiauthenticator 1.6.3's at the narrowest method.

Upstream's handlers, its ``LTI11LaunchValidator`` (OAuth1 signature through oauthlib) and its
``LTI13LaunchValidator`` (LTI claim checks) do the protocol work; PyJWT verifies the id_token
with a key from jwks.py. What is ours closes the gaps listed in DESIGN 9: LTI 1.1 nonces live
in the hub database, recorded only after the signature holds; LTI 1.3 serves several
platforms (looked up by ``iss`` at initiation and again at the callback), checks
``deployment_id``, keeps state + nonce server-side and consumes them once; JWKS fetches leave
the event loop. The authenticator (authenticator.py) decides; these handlers carry requests.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jwt
from jupyterhub.orm import utcnow as orm_utcnow
from ltiauthenticator.lti11.handlers import LTI11AuthenticateHandler
from ltiauthenticator.lti13.error import InvalidAudienceError, TokenError, ValidationError
from ltiauthenticator.lti13.handlers import LTI13CallbackHandler, LTI13LoginInitHandler
from ltiauthenticator.lti13.validator import LTI13LaunchValidator
from ltiauthenticator.utils import convert_request_to_dict
from tornado.httputil import url_concat
from tornado.web import HTTPError

from ..core.launch import DEPLOYMENT_CLAIM, Launch
from ..core.logline import logline
from ..core.settings import LTI13Platform
from .checks import (
    Refusal, audiences, decode_state, deployment_check, login_registration, state_refusal,
    token_registration,
)
from .jwks import JWKSUnavailableError, UnknownKeyError

# Auth model key (never stored) for a user created by the launch: (orm user, course, role).
NEW_MEMBER = "coursehub_new_member"


class LaunchLogin:
    """What both launch handlers do once the launch is verified: log the user in (JupyterHub's
    login_user, which calls authenticate), refuse when the hub admits nobody, and set the
    course's group on the user JupyterHub just loaded."""

    async def login_launch(self, version: str, platform: str, data: Any = None) -> Launch | None:
        auth = self.authenticator
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
        auth = self.authenticator
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
        entry, refused = login_registration(await auth.registrations(issuer), issuer, args.get("client_id", ""))
        if refused:
            raise auth.refuse(self, *refused[:2], "1.3", issuer, refused[2])
        platform = entry.platform
        client_id = platform.client_id
        deployment = args.get("lti_deployment_id")
        if deployment:
            _, refused = deployment_check(entry, deployment, "unknown_deployment")
            if refused:
                raise auth.refuse(self, *refused[:2], "1.3", issuer, refused[2])
        self.platform = platform
        state = self.generate_state()
        nonce = self.generate_nonce()
        await auth.store.create_lti13_state(decode_state(state)["state_id"], nonce, issuer, client_id)
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
        auth = self.authenticator
        return auth.public_base(self.request) + auth.callback_url(self.hub.base_url)


class LTI13LaunchCallbackHandler(LaunchLogin, LTI13CallbackHandler):
    """``POST /hub/lti13/oauth_callback``: verifies the id_token and logs the user in.

    Upstream's ``decode_and_validate_launch_request`` is synchronous (it fetches the JWKS on
    the event loop) and knows one issuer; ``post`` is replaced to await ours. Upstream's
    ``check_state`` / ``check_nonce`` cookie checks and its claim validator still run.
    """

    async def post(self) -> None:
        auth = self.authenticator
        claims, platform = await self.verify_launch()
        launch = await self.login_launch(
            "1.3", platform.issuer, {"version": "1.3", "id_token": claims, "platform": platform}
        )
        self.redirect(auth.launch_redirect(self, launch, self._state_next()))

    def _state_next(self) -> str:
        return decode_state(self.get_argument("state", "")).get("next_url") or ""

    async def verify_launch(self) -> tuple[dict[str, Any], LTI13Platform]:
        auth = self.authenticator
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
        state_id = str(decode_state(args["state"]).get("state_id") or "")
        token = args["id_token"]
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise refuse(400, "bad_token", f"The id_token from the LMS is not a valid JWT ({error}).")
        issuer = str(unverified.get("iss") or "")
        entries = await auth.registrations(issuer)
        if not any(e.enabled for e in entries):
            raise refuse(
                401, "wrong_issuer",
                f"The id_token's issuer {issuer!r} is not a registered LMS.", issuer,
            )
        entry = token_registration(entries, audiences(unverified), str(unverified.get("azp") or ""))
        if entry is None:
            raise refuse(
                401, "wrong_audience",
                f"The id_token is for client {unverified.get('aud')!r}, not a client registered "
                "for this LMS.", issuer,
            )
        platform = entry.platform
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
        bind, refused = deployment_check(entry, deployment)
        if refused:
            raise refuse(refused[0], refused[1], refused[2], issuer)
        # One statement consumes the login's server-side state if - and only if - everything
        # it must match does; a refusal reads the row once more to say what did not.
        token_audiences = audiences(claims)
        if not state_id or not await auth.store.claim_lti13_state(state_id, nonce, platform.issuer, token_audiences):
            row = await auth.store.get_lti13_state(state_id) if state_id else None
            status, reason, message = state_refusal(row, platform.issuer, token_audiences, nonce,
                                                    auth.lti13_state_max_age)
            raise refuse(status, reason, f"{message} {restart}", issuer)
        try:
            self.check_nonce(claims)
        except HTTPError as error:
            raise refuse(400, "nonce_cookie", f"{error.log_message}. {restart}", issuer)
        if bind:
            if await auth.store.bind_deployment(entry.id, deployment):
                auth.log.info(logline("platform", action="deployment_bound", platform=platform.name,
                                      issuer=issuer, client=platform.client_id, deployment=deployment))
            else:
                # Another launch bound its deployment a moment ago: this one must match it.
                entry = token_registration(await auth.registrations(issuer), [platform.client_id], "")
                _, refused = deployment_check(entry, deployment) if entry else (False, (
                    401, "wrong_issuer", "This LMS's registration was removed meanwhile."))
                if refused:
                    raise refuse(refused[0], refused[1], refused[2], issuer)
            platform = replace(platform, deployment_ids=(deployment,))
        return claims, platform
