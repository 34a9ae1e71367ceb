"""LTI Deep Linking 2.0, the tool's answer: the content item of a coursehub link and the
LtiDeepLinkingResponse JWT that carries it back to the LMS (signed with the tool's key).

Written by hand: ltiauthenticator accepts a deep linking request but cannot answer it, and
pylti1p3 is unmaintained; the answer is one JWT whose every claim is in the spec (section 4.2).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Mapping

from ..core.grades import resource_id
from ..core.launch import DEPLOYMENT_CLAIM, Launch
from .toolkeys import SigningKey

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
RESPONSE_LIFETIME = 300


def content_item(title: str, custom: Mapping[str, str], course: str, assignment: str,
                 max_score: float) -> dict[str, Any]:
    """An ltiResourceLink whose launches open ``assignment``; with a line item (when the
    assignment has points) that grades sent later land on (resourceId coursehub:...)."""
    item: dict[str, Any] = {"type": "ltiResourceLink", "title": title, "custom": dict(custom)}
    if assignment and max_score > 0:
        item["lineItem"] = {"scoreMaximum": max_score, "label": title, "resourceId": resource_id(course, assignment)}
    return item


def response_claims(request: Launch, items: list[dict[str, Any]], now: int | None = None) -> dict[str, Any]:
    """The LtiDeepLinkingResponse to ``request``: iss = the client, aud = the platform, its
    deployment, a fresh nonce, the request's ``data`` echoed unchanged."""
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": request.client_id,
        "aud": request.platform,
        "iat": now,
        "exp": now + RESPONSE_LIFETIME,
        "nonce": uuid.uuid4().hex,
        "jti": uuid.uuid4().hex,
        DEPLOYMENT_CLAIM: request.deployment_id,
        CLAIM + "message_type": "LtiDeepLinkingResponse",
        CLAIM + "version": "1.3.0",
        DL_CLAIM + "content_items": items,
    }
    if "data" in request.deep_linking:
        claims[DL_CLAIM + "data"] = request.deep_linking["data"]
    return claims


def signed_response(key: SigningKey, request: Launch, items: list[dict[str, Any]]) -> str:
    return key.sign(response_claims(request, items))
