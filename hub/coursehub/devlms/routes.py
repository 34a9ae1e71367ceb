"""The dev platform's endpoints under /hub/ (coursehub.config mounts them only with
``lti13.dev_platform``)."""

from __future__ import annotations

from typing import Any

from ..core.devplatform import AUTHORIZE_PATH, BASE_PATH, JWKS_PATH
from .deeplinking import RETURN_PATH, DevDeepLinkReturnHandler
from .oidc import DevAuthorizeHandler, DevJWKSHandler
from .outcomes import DevOutcomesHandler
from .registration import DevOpenIDConfigurationHandler, DevRegistrationHandler
from .services import (
    DevFaultsHandler, DevGradebookHandler, DevLineItemsHandler, DevMembershipsHandler, DevRosterHandler,
    DevScoresHandler, DevTokenHandler,
)


def handlers() -> list[tuple[str, Any]]:
    return [
        ("/" + AUTHORIZE_PATH, DevAuthorizeHandler),
        ("/" + JWKS_PATH, DevJWKSHandler),
        (f"/{BASE_PATH}/.well-known/openid-configuration", DevOpenIDConfigurationHandler),
        (f"/{BASE_PATH}/register", DevRegistrationHandler),
        (f"/{BASE_PATH}/token", DevTokenHandler),
        (f"/{BASE_PATH}/ags/([^/]+)/lineitems", DevLineItemsHandler),
        (rf"/{BASE_PATH}/ags/([^/]+)/lineitems/(\d+)/lineitem/scores", DevScoresHandler),
        (f"/{BASE_PATH}/outcomes", DevOutcomesHandler),
        (f"/{BASE_PATH}/nrps/([^/]+)/memberships", DevMembershipsHandler),
        (f"/{BASE_PATH}/roster", DevRosterHandler),
        (RETURN_PATH.removeprefix("/hub"), DevDeepLinkReturnHandler),
        (f"/{BASE_PATH}/gradebook", DevGradebookHandler),
        (f"/{BASE_PATH}/faults", DevFaultsHandler),
    ]
