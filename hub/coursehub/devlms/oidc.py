"""The dev platform's OIDC side, so the real three-request LTI 1.3 flow runs without an LMS.

``coursehub launch --lti 1.3`` (launcher.py) mints a short-lived ``login_hint`` JWT signed with
the dev platform's key and carrying the launch claims; the hub's real login-initiation handler
redirects to ``/hub/coursehub/dev/authorize``, which checks the hint, builds an id_token bound
to the request's nonce, signs it and form-posts it with the state to the hub's real callback.
Nothing on the way is mocked: JWKS lookup, signature, issuer, audience, deployment, nonce and
state checks all run as for a real LMS. Clients: the static one (DEV_CLIENT_ID, issuer
DEV_ISSUER) and every client a tool registered dynamically (registration.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Mapping
from urllib.parse import urlparse

import jwt
from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado.web import HTTPError

from ..core.devplatform import DEV_CLIENT_ID, DEV_DEPLOYMENT_ID, DEV_ISSUER
from ..core.logline import logline
from ..lti.forms import auto_submit_form
from ..lti.toolkeys import KeySetHandler, SigningKey
from ..storage import runtime
from . import state

HINT_AUDIENCE = "coursehub-dev-platform/authorize"
HINT_LIFETIME = 120
ID_TOKEN_LIFETIME = 300

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
# Claims only the platform decides; a login hint cannot set them.
PROTOCOL_CLAIMS = frozenset({"iss", "aud", "azp", "iat", "exp", "nbf", "nonce", "jti"})


def mint_login_hint(key: SigningKey, claims: Mapping[str, Any], lifetime: int = HINT_LIFETIME) -> str:
    """The login_hint of a dev launch: the message claims, signed, valid ``lifetime`` seconds."""
    return key.sign({"iss": DEV_ISSUER, "aud": HINT_AUDIENCE, "claims": dict(claims)}, lifetime=lifetime)


def read_login_hint(key: SigningKey, hint: str) -> dict[str, Any]:
    payload = jwt.decode(
        hint,
        key.private_key.public_key(),
        algorithms=["RS256"],
        audience=HINT_AUDIENCE,
        issuer=DEV_ISSUER,
        options={"require": ["exp", "iat"]},
    )
    claims = payload.get("claims")
    if not isinstance(claims, dict):
        raise jwt.InvalidTokenError("login_hint carries no claims")
    return claims


def id_token_claims(
    message: Mapping[str, Any],
    *,
    nonce: str,
    client_id: str = DEV_CLIENT_ID,
    issuer: str = DEV_ISSUER,
    deployment_id: str = DEV_DEPLOYMENT_ID,
    lifetime: int = ID_TOKEN_LIFETIME,
    now: int | None = None,
) -> dict[str, Any]:
    """A complete LtiResourceLinkRequest id_token payload around the ``message`` claims."""
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        CLAIM + "version": "1.3.0",
        CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "deployment_id": deployment_id,
        CLAIM + "resource_link": {"id": "coursehub-dev-link"},
        CLAIM + "roles": [],
    }
    claims.update({k: v for k, v in message.items() if k not in PROTOCOL_CLAIMS})
    claims.update(
        {"iss": issuer, "aud": client_id, "azp": client_id, "iat": now, "exp": now + lifetime, "nonce": nonce}
    )
    return claims


class DevJWKSHandler(KeySetHandler):
    """``GET /hub/coursehub/dev/jwks``: the dev platform's public keys."""

    key_attr = "dev_platform_key"


class DevAuthorizeHandler(BaseHandler):
    """``/hub/coursehub/dev/authorize``: the dev platform's OIDC authorization endpoint."""

    def check_xsrf_cookie(self) -> None:
        # Reached by a redirect from the hub's login initiation, like a real LMS endpoint.
        return

    def _fail(self, message: str) -> HTTPError:
        self.log.warning(logline("refused", kind="dev-platform", ip=self.request.remote_ip, message=message))
        return HTTPError(400, f"Development platform: {message}")

    def _expected_callback(self) -> str:
        return url_path_join(self.hub.base_url, "lti13/oauth_callback")

    async def _client(self, client_id: str) -> tuple[str, str] | None:
        """(issuer, deployment) of a client this platform knows, or None."""
        if client_id == DEV_CLIENT_ID:
            return DEV_ISSUER, DEV_DEPLOYMENT_ID
        engine = runtime.store_for(self.authenticator.settings.db_url).engine
        client = await asyncio.to_thread(state.get_client, engine, client_id)
        return (client.issuer, client.deployment_id) if client else None

    async def get(self) -> None:
        key: SigningKey | None = getattr(self.authenticator, "dev_platform_key", None)
        if key is None:
            raise HTTPError(404, "The development platform is not enabled on this hub.")
        arg = lambda name: self.get_argument(name, "")  # noqa: E731
        if arg("response_type") != "id_token" or "openid" not in arg("scope").split():
            raise self._fail("only response_type=id_token with scope openid is supported")
        if arg("response_mode") != "form_post":
            raise self._fail("only response_mode=form_post is supported")
        if arg("prompt") != "none":
            raise self._fail("prompt must be none (IMS Security Framework 5.1.1.2)")
        client = await self._client(arg("client_id"))
        if client is None:
            raise self._fail(f"unknown client_id {arg('client_id')!r}")
        for required in ("nonce", "state", "login_hint", "redirect_uri"):
            if not arg(required):
                raise self._fail(f"{required} is missing")
        redirect_uri = arg("redirect_uri")
        target = urlparse(redirect_uri)
        # Only ever post tokens back to this hub's own callback (never an open relay).
        if target.path != self._expected_callback() or (target.netloc and target.netloc != self.request.host
                                                        and target.netloc != self._public_netloc()):
            raise self._fail(f"redirect_uri {redirect_uri!r} is not this hub's LTI 1.3 callback")
        try:
            message = read_login_hint(key, arg("login_hint"))
        except jwt.PyJWTError as error:
            raise self._fail(f"the login_hint is not a valid dev launch ({error}); run `coursehub launch` again")
        issuer, deployment = client
        message = {CLAIM + "deployment_id": deployment, **message}
        id_token = key.sign(id_token_claims(message, nonce=arg("nonce"), client_id=arg("client_id"),
                                            issuer=issuer, deployment_id=deployment))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(auto_submit_form(redirect_uri, {"id_token": id_token, "state": arg("state")}))

    post = get

    def _public_netloc(self) -> str:
        public_url = self.settings.get("public_url")
        return public_url.netloc if public_url else ""
