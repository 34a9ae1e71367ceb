"""The dev platform's side of IMS LTI Dynamic Registration 1.0: its OpenID configuration and a
registration endpoint that checks everything a tool must send (and refuses the rest), then
makes a client whose launches the dev platform signs (oidc.py).

Faults for the tests, chosen by the query of the configuration URL the "LMS" hands the tool:
``fault=issuer`` publishes an issuer that does not match the URL, ``fault=register500`` makes
the registration endpoint answer 500; ``deployment=none`` leaves the deployment out of the
answer, as Canvas does (it makes the deployment at install time).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any, Mapping
from urllib.parse import urlencode, urlparse

import jwt
from jupyterhub.handlers import BaseHandler
from tornado.web import HTTPError

from ..core.devplatform import AUTHORIZE_PATH, INTERNAL_BASE, OPENID_CONFIGURATION_URL, REGISTRATION_ISSUER
from ..core.logline import logline
from ..lti.toolkeys import SigningKey
from ..storage import runtime
from . import state

REGISTRATION_AUDIENCE = "coursehub-dev-platform/register"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
SCOPES_SUPPORTED = (
    "openid",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
MESSAGES_SUPPORTED = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")


def mint_registration_token(key: SigningKey, lifetime: int = 600) -> str:
    """What an LMS hands the tool with the registration URL: good for one registration."""
    return key.sign({"aud": REGISTRATION_AUDIENCE}, lifetime=lifetime)


def configuration_url(**faults: str) -> str:
    """The configuration URL the "LMS" passes to the tool's registration URL."""
    return OPENID_CONFIGURATION_URL + (f"?{urlencode(faults)}" if faults else "")


def openid_configuration(public_url: str, faults: Mapping[str, str]) -> dict[str, Any]:
    """The platform's configuration (spec 3.2); server-to-server endpoints are the hub's own
    port, the authorize endpoint is where browsers reach the hub."""
    register = f"{INTERNAL_BASE}/register"
    passed = {k: v for k, v in faults.items() if k in ("fault", "deployment")}
    if passed:
        register += "?" + urlencode(passed)
    return {
        "issuer": "https://other.invalid/platform" if faults.get("fault") == "issuer" else REGISTRATION_ISSUER,
        "authorization_endpoint": f"{public_url.rstrip('/')}/hub/{AUTHORIZE_PATH}",
        "registration_endpoint": register,
        "jwks_uri": f"{INTERNAL_BASE}/jwks",
        "token_endpoint": f"{INTERNAL_BASE}/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["iss", "sub", "aud", "name", "given_name", "family_name", "email"],
        PLATFORM_CONFIGURATION: {
            "product_family_code": "coursehub-dev",
            "version": "1.0",
            "messages_supported": [{"type": t} for t in MESSAGES_SUPPORTED],
        },
    }


def _url(value: Any) -> bool:
    return isinstance(value, str) and urlparse(value).scheme in ("http", "https") and bool(urlparse(value).netloc)


def registration_problems(body: Any) -> list[str]:
    """Everything wrong with a tool's client registration (spec 3.3, 3.4), as a list."""
    if not isinstance(body, Mapping):
        return ["the registration is not a JSON object"]
    problems = []
    if body.get("application_type") != "web":
        problems.append("application_type must be web")
    if body.get("response_types") != ["id_token"]:
        problems.append("response_types must be [id_token]")
    if not {"implicit", "client_credentials"} <= set(body.get("grant_types") or []):
        problems.append("grant_types must hold implicit and client_credentials")
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        problems.append("token_endpoint_auth_method must be private_key_jwt")
    for key in ("initiate_login_uri", "jwks_uri"):
        if not _url(body.get(key)):
            problems.append(f"{key} must be a URL")
    redirects = body.get("redirect_uris")
    if not isinstance(redirects, list) or not redirects or not all(_url(u) for u in redirects):
        problems.append("redirect_uris must be a list of URLs")
    if not body.get("client_name"):
        problems.append("client_name is required")
    scopes = str(body.get("scope") or "").split()
    unknown = [s for s in scopes if s not in SCOPES_SUPPORTED]
    if unknown:
        problems.append(f"scope asks for unsupported {', '.join(unknown)}")
    tool = body.get(TOOL_CONFIGURATION)
    if not isinstance(tool, Mapping):
        return problems + [f"{TOOL_CONFIGURATION} is required"]
    domain = tool.get("domain")
    if not domain:
        problems.append("the tool configuration's domain is required")
    urls = [body.get("initiate_login_uri"), tool.get("target_link_uri"), *(redirects or [])]
    if not _url(tool.get("target_link_uri")):
        problems.append("the tool configuration's target_link_uri must be a URL")
    elif domain and any(_url(u) and urlparse(u).netloc != domain for u in urls):
        problems.append(f"the tool's URLs must be on its domain {domain}")
    messages = tool.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("the tool configuration must list its messages")
    else:
        for message in messages:
            kind = message.get("type") if isinstance(message, Mapping) else None
            if kind not in MESSAGES_SUPPORTED:
                problems.append(f"message type {kind!r} is not supported")
    if not isinstance(tool.get("claims", []), list):
        problems.append("the tool configuration's claims must be a list")
    return problems


class DevOpenIDConfigurationHandler(BaseHandler):
    """``GET /hub/coursehub/dev/.well-known/openid-configuration``."""

    def check_xsrf_cookie(self) -> None:
        return

    async def get(self) -> None:
        public_url = self.authenticator.settings.public_url
        if not public_url:
            raise HTTPError(500, "The development platform needs the hub's public URL (COURSEHUB_PUBLIC_URL).")
        faults = {k: self.get_argument(k) for k in self.request.arguments}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(openid_configuration(public_url, faults)))


class DevRegistrationHandler(BaseHandler):
    """``POST /hub/coursehub/dev/register``: the platform's client registration endpoint."""

    def check_xsrf_cookie(self) -> None:
        return

    def _fail(self, status: int, error: str, description: str) -> None:
        self.log.warning(logline("refused", kind="dev-platform", step="registration", message=description))
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        # RFC 7591 3.2.2 error response.
        self.finish(json.dumps({"error": error, "error_description": description}))

    async def post(self) -> None:
        key: SigningKey | None = getattr(self.authenticator, "dev_platform_key", None)
        if key is None:
            raise HTTPError(404, "The development platform is not enabled on this hub.")
        if self.get_argument("fault", "") == "register500":
            raise HTTPError(500, "The development platform's registration endpoint fails (fault=register500).")
        if self.request.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return self._fail(400, "invalid_client_metadata", "the registration must be application/json")
        auth_header = self.request.headers.get("Authorization", "")
        if not auth_header.startswith("Bearer "):
            return self._fail(401, "invalid_token", "the registration token is missing (Authorization: Bearer)")
        try:
            claims = jwt.decode(auth_header[7:], key.private_key.public_key(), algorithms=["RS256"],
                                audience=REGISTRATION_AUDIENCE, options={"require": ["exp", "jti"]})
        except jwt.PyJWTError as error:
            return self._fail(401, "invalid_token", f"the registration token is not valid ({error})")
        engine = runtime.store_for(self.authenticator.settings.db_url).engine
        try:
            body = json.loads(self.request.body)
        except ValueError:
            return self._fail(400, "invalid_client_metadata", "the registration is not JSON")
        problems = registration_problems(body)
        if problems:
            return self._fail(400, "invalid_client_metadata", "; ".join(problems))
        if not await asyncio.to_thread(state.use_jti, engine, claims["jti"], "registration", claims["exp"]):
            return self._fail(401, "invalid_token", "the registration token was used already")
        client_id = "dev-" + secrets.token_hex(8)
        deployment = "" if self.get_argument("deployment", "") == "none" else "d-" + secrets.token_hex(4)
        client = state.DevClient(client_id, REGISTRATION_ISSUER, deployment or "d-first", body["jwks_uri"], body)
        await asyncio.to_thread(state.add_client, engine, client)
        tool = dict(body[TOOL_CONFIGURATION])
        if deployment:
            tool["deployment_id"] = deployment
        self.set_status(200)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({**body, "client_id": client_id, "registration_client_uri":
                                f"{INTERNAL_BASE}/register/{client_id}", TOOL_CONFIGURATION: tool,
                                "client_id_issued_at": int(time.time())}))
