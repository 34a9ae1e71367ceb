"""The dev platform's endpoints under /hub/ (coursehub.config mounts them only with
``lti13.dev_platform``)."""

from __future__ import annotations

from typing import Any

from ..core.devplatform import AUTHORIZE_PATH, BASE_PATH, JWKS_PATH
from .oidc import DevAuthorizeHandler, DevJWKSHandler
from .registration import DevOpenIDConfigurationHandler, DevRegistrationHandler


def handlers() -> list[tuple[str, Any]]:
    return [
        ("/" + AUTHORIZE_PATH, DevAuthorizeHandler),
        ("/" + JWKS_PATH, DevJWKSHandler),
        (f"/{BASE_PATH}/.well-known/openid-configuration", DevOpenIDConfigurationHandler),
        (f"/{BASE_PATH}/register", DevRegistrationHandler),
    ]
