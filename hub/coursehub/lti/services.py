"""The tool calling the LMS back: LTI Advantage access tokens, AGS line items and scores, and
LTI 1.1 Basic Outcomes. Every call is async with a timeout (lmshttp.py).

Written by hand on PyJWT and oauthlib, as DESIGN 10 weighs it: pylti1p3 is unmaintained and its
maintained fork makes synchronous ``requests`` calls, which would block the hub's event loop;
the protocols are a handful of HTTP requests whose details (kid, jti, path+query of /scores,
body hash) are exactly where public tools went wrong, so they are tested here one by one.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client

from ..core.grades import LINEITEM_TYPE, LINEITEMS_TYPE, SCORE_TYPE, next_page, outcome_answer, scores_url
from ..core.settings import LTI13Platform
from .lmshttp import LMSError, bearer, call
from .toolkeys import SigningKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300
# A cached token is dropped this long before the LMS says it expires.
EXPIRY_MARGIN = 30
# Line item containers and rosters are paged; a platform that never stops is cut off here.
MAX_PAGES = 200


@dataclass
class _Token:
    value: str
    expires: float


class ServiceClient:
    """Access tokens of one tool key, cached per (token URL, client, scopes) until they expire."""

    def __init__(self, tool_key: SigningKey):
        self.tool_key = tool_key
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.token_requests = 0

    def client_assertion(self, platform: LTI13Platform) -> str:
        """IMS Security 4.1: RS256, header kid; iss = sub = client id, aud = the token URL,
        a short exp and a unique jti (Canvas says 'JWS signature invalid' without the kid)."""
        client = platform.client_id
        return self.tool_key.sign({"iss": client, "sub": client, "aud": platform.token_url},
                                  lifetime=ASSERTION_LIFETIME)

    async def token(self, platform: LTI13Platform, scopes: tuple[str, ...], fresh: bool = False) -> str:
        if not platform.token_url:
            raise LMSError(0, f"the platform {platform.name} has no token URL: grades and roster cannot "
                              "be sent (add token_url to it in the settings file, or register it again)")
        key = (platform.token_url, platform.client_id, " ".join(sorted(scopes)))
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached and not fresh and cached.expires > time.time():
                return cached.value
            self.token_requests += 1
            answer = await call("POST", platform.token_url, f"The LMS's token endpoint ({platform.name})",
                                headers={"Content-Type": "application/x-www-form-urlencoded",
                                         "Accept": "application/json"},
                                body=urlencode({
                                    "grant_type": "client_credentials",
                                    "client_assertion_type": ASSERTION_TYPE,
                                    "client_assertion": self.client_assertion(platform),
                                    "scope": " ".join(scopes),
                                }))
            data = answer.json("The LMS's token endpoint")
            if not isinstance(data, dict) or not data.get("access_token"):
                raise LMSError(answer.status, f"The LMS's token endpoint gave no access_token: {str(data)[:200]}")
            lifetime = float(data.get("expires_in") or 3600)
            self._tokens[key] = _Token(data["access_token"], time.time() + lifetime - EXPIRY_MARGIN)
            return data["access_token"]

    async def authorized(self, method: str, url: str, what: str, platform: LTI13Platform,
                         scopes: tuple[str, ...], **kwargs: Any):
        """A call with a bearer token; on 401 (a token the LMS forgot) once more with a new one."""
        headers = dict(kwargs.pop("headers", {}))
        for attempt in (0, 1):
            token = await self.token(platform, scopes, fresh=attempt == 1)
            try:
                return await call(method, url, what, headers={**headers, **bearer(token)}, **kwargs)
            except LMSError as error:
                if error.status != 401 or attempt:
                    raise
        raise AssertionError("unreachable")

    # -- AGS ----------------------------------------------------------------------------------
    async def lineitems(self, platform: LTI13Platform, scopes: tuple[str, ...], url: str,
                        **filters: str) -> list[dict[str, Any]]:
        """Every line item of a container (filters such as resource_id), following rel=next."""
        query = urlencode({k: v for k, v in filters.items() if v})
        page = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            answer = await self.authorized("GET", page, "The LMS's line items", platform, scopes,
                                           headers={"Accept": LINEITEMS_TYPE})
            items = answer.json("The LMS's line items")
            found += [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
            page = next_page(answer.headers.get("Link", ""))
            if not page:
                return found
        raise LMSError(0, f"The LMS's line items did not end after {MAX_PAGES} pages")

    async def create_lineitem(self, platform: LTI13Platform, scopes: tuple[str, ...], url: str,
                              body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.authorized("POST", url, "The LMS's line items (create)", platform, scopes,
                                       headers={"Content-Type": LINEITEM_TYPE, "Accept": LINEITEM_TYPE},
                                       body=json.dumps(body))
        item = answer.json("The LMS's line items (create)")
        if not isinstance(item, dict) or not item.get("id"):
            raise LMSError(answer.status, f"The LMS created a line item without id: {str(item)[:200]}")
        return item

    async def post_score(self, platform: LTI13Platform, scopes: tuple[str, ...], lineitem_url: str,
                         body: dict[str, Any]) -> int:
        answer = await self.authorized("POST", scores_url(lineitem_url), "The LMS's scores endpoint",
                                       platform, scopes, headers={"Content-Type": SCORE_TYPE},
                                       body=json.dumps(body))
        return answer.status


async def replace_result(url: str, body: bytes, consumer_key: str, secret: str) -> str:
    """Posts an LTI 1.1 replaceResult, signed OAuth 1.0a HMAC-SHA1 with oauth_body_hash
    (oauthlib adds it for a body that is not form-encoded); returns the LMS's words on success."""
    client = Client(consumer_key, client_secret=secret, signature_method=SIGNATURE_HMAC_SHA1,
                    signature_type=SIGNATURE_TYPE_AUTH_HEADER, nonce=uuid.uuid4().hex)
    _, headers, _ = client.sign(url, http_method="POST", body=body,
                                headers={"Content-Type": "application/xml"})
    answer = await call("POST", url, "The LMS's outcomes service", headers=headers, body=body)
    ok, words = outcome_answer(answer.body)
    if not ok:
        raise LMSError(answer.status, f"The LMS's outcomes service refused: {words}")
    return words
