"""A tiny LTI 1.3 platform inside the hub, so the real three-request flow runs without an LMS.

Enabled only by ``lti13.dev_platform: true``. ``coursehub launch --lti 1.3`` (launcher.py)
mints a short-lived ``login_hint`` JWT signed with the dev platform's key and carrying the
launch claims; the hub's real login-initiation handler redirects to
``/hub/coursehub/dev/authorize``, which checks the hint, builds an id_token bound to the
request's nonce, signs it and form-posts it with the state to the hub's real callback. Nothing
on the way is mocked: JWKS lookup, signature, issuer, audience, deployment, nonce and state
checks all run as for a real LMS.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

import jwt
from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado.web import HTTPError

from ..core.logline import logline
from ..core.settings import LTI13Platform
from .toolkeys import KeySetHandler, SigningKey

# ".invalid" is reserved (RFC 2606): this issuer can never be a real LMS's.
DEV_ISSUER = "https://coursehub.invalid/dev-platform"
DEV_CLIENT_ID = "coursehub-dev"
DEV_DEPLOYMENT_ID = "1"
DEV_KEY_FILENAME = "dev_platform_key.pem"
HINT_AUDIENCE = "coursehub-dev-platform/authorize"
HINT_LIFETIME = 120
ID_TOKEN_LIFETIME = 300
AUTHORIZE_PATH = "coursehub/dev/authorize"
JWKS_PATH = "coursehub/dev/jwks"

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
# Claims only the platform decides; a login hint cannot set them.
PROTOCOL_CLAIMS = frozenset({"iss", "aud", "azp", "iat", "exp", "nbf", "nonce", "jti"})


def dev_key_path(lti13_key_file: str | Path) -> Path:
    return Path(lti13_key_file).parent / DEV_KEY_FILENAME


def dev_platform(hub_prefix: str = "/hub/") -> LTI13Platform:
    """The dev platform's registration; its URLs are hub-relative (same origin as the hub)."""
    return LTI13Platform(
        issuer=DEV_ISSUER,
        client_ids=(DEV_CLIENT_ID,),
        deployment_ids=(DEV_DEPLOYMENT_ID,),
        authorize_url=url_path_join(hub_prefix, AUTHORIZE_PATH),
        jwks_url=url_path_join(hub_prefix, JWKS_PATH),
        name="coursehub development platform",
    )


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
    lifetime: int = ID_TOKEN_LIFETIME,
    now: int | None = None,
) -> dict[str, Any]:
    """A complete LtiResourceLinkRequest id_token payload around the ``message`` claims."""
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        CLAIM + "version": "1.3.0",
        CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "deployment_id": DEV_DEPLOYMENT_ID,
        CLAIM + "resource_link": {"id": "coursehub-dev-link"},
        CLAIM + "roles": [],
    }
    claims.update({k: v for k, v in message.items() if k not in PROTOCOL_CLAIMS})
    claims.update(
        {"iss": issuer, "aud": client_id, "azp": client_id, "iat": now, "exp": now + lifetime, "nonce": nonce}
    )
    return claims


def auto_submit_form(action: str, fields: Mapping[str, str], title: str = "Continuing…") -> str:
    """An HTML page that POSTs ``fields`` to ``action`` at once (with a button if JS is off)."""
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
        for k, v in fields.items()
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n"
        '<body onload="document.forms[0].submit()">\n'
        f'<form method="post" action="{html.escape(action)}">\n{inputs}\n'
        '<noscript><button type="submit">Continue</button></noscript>\n</form>\n</body></html>\n'
    )


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

    async def get(self) -> None:
        key: SigningKey | None = getattr(self.authenticator, "dev_platform_key", None)
        if key is None:
            raise HTTPError(404, "The development platform is not enabled on this hub.")
        arg = lambda name: self.get_argument(name, "")  # noqa: E731
        if arg("response_type") != "id_token" or "openid" not in arg("scope").split():
            raise self._fail("only response_type=id_token with scope openid is supported")
        if arg("response_mode") != "form_post":
            raise self._fail("only response_mode=form_post is supported")
        if arg("client_id") != DEV_CLIENT_ID:
            raise self._fail(f"unknown client_id {arg('client_id')!r} (expected {DEV_CLIENT_ID})")
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
        id_token = key.sign(id_token_claims(message, nonce=arg("nonce")))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(auto_submit_form(redirect_uri, {"id_token": id_token, "state": arg("state")}))

    post = get

    def _public_netloc(self) -> str:
        public_url = self.settings.get("public_url")
        return public_url.netloc if public_url else ""
