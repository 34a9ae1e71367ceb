"""Who the built-in development platform is (on only with ``lti13.dev_platform``): its issuer,
client, deployment and where its endpoints are, as data. The platform itself - the strict
emulated LMS the tests and ``coursehub launch`` talk to - is devlms/.

Browser-facing endpoints (authorize) are hub-relative, so they work behind any public URL;
endpoints the hub itself calls (token, services, registration) are on the hub's own port
inside its container, as a remote LMS's would be on its host.
"""

from __future__ import annotations

from pathlib import PurePath

from .settings import HUB_PORT, LTI13Platform

# ".invalid" is reserved (RFC 2606): this issuer can never be a real LMS's.
DEV_ISSUER = "https://coursehub.invalid/dev-platform"
DEV_CLIENT_ID = "coursehub-dev"
DEV_DEPLOYMENT_ID = "1"
DEV_KEY_FILENAME = "dev_platform_key.pem"
BASE_PATH = "coursehub/dev"
AUTHORIZE_PATH = f"{BASE_PATH}/authorize"
JWKS_PATH = f"{BASE_PATH}/jwks"
TOKEN_PATH = f"{BASE_PATH}/token"
# How the hub reaches the dev platform's server-to-server endpoints (inside its container).
INTERNAL_BASE = f"http://127.0.0.1:{HUB_PORT}/hub/{BASE_PATH}"
# Dynamic registration: the platform configuration is published under this issuer, which is
# a prefix of the configuration's URL, as IMS LTI Dynamic Registration 1.0 requires.
REGISTRATION_ISSUER = INTERNAL_BASE
OPENID_CONFIGURATION_URL = f"{INTERNAL_BASE}/.well-known/openid-configuration"


def dev_key_path(lti13_key_file: str) -> PurePath:
    """The dev platform's key file, beside the tool's (scripts/secrets.sh writes both)."""
    return PurePath(lti13_key_file).parent / DEV_KEY_FILENAME


def dev_platform(hub_prefix: str = "/hub/") -> LTI13Platform:
    """The dev platform's static registration (issuer DEV_ISSUER, client DEV_CLIENT_ID)."""
    return LTI13Platform(
        issuer=DEV_ISSUER,
        client_ids=(DEV_CLIENT_ID,),
        deployment_ids=(DEV_DEPLOYMENT_ID,),
        authorize_url=f"{hub_prefix.rstrip('/')}/{AUTHORIZE_PATH}",
        jwks_url=f"{INTERNAL_BASE}/jwks",
        name="coursehub development platform",
        token_url=f"{INTERNAL_BASE}/token",
        source="dev",
    )
