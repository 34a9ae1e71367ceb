"""The dev platform's LTI Advantage services, strict where real platforms are lenient: the OAuth 2
token endpoint (client assertions verified against the tool's published JWKS: signature, kid,
iss = sub, aud, exp, jti replay, scopes), AGS line items (Link paging, Moodle-style
``?type_id=N`` URLs that break when a tool drops the query) and scores (media type, fields,
time zone, no score older than the last), and a gradebook tests can read and break.

Faults (``POST /hub/coursehub/dev/faults``, coursehub API token): an endpoint answers a status
(500, 401...) or ``slow:<seconds>`` for the next N requests; ``revoke`` forgets every issued
token (a tool must fetch a new one on the 401 that follows).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import jwt
from sqlalchemy import delete, func, select

from ..core.devplatform import DEV_CLIENT_ID, INTERNAL_BASE
from . import state
from .base import TYPE_ID, DevHandler

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_URL = f"{INTERNAL_BASE}/token"
# The tool is the hub itself: its JWKS is read from the hub's own port (the registered URL is
# the public one, which the hub's container cannot reach in the test stack).
TOOL_JWKS = "http://127.0.0.1:8081/hub/lti13/jwks"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
READ_SCOPES = (LINEITEM_SCOPE, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly")
RESULT_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPES = {SCORE_SCOPE, RESULT_SCOPE, NRPS_SCOPE, *READ_SCOPES}
PAGE_SIZE = 10
ACTIVITY = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}
ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def lineitems_url(context_id: str) -> str:
    """Where a context's line items are, as a launch's AGS claim names them (Moodle-style)."""
    return f"{INTERNAL_BASE}/ags/{quote(context_id, safe='')}/lineitems?type_id={TYPE_ID}"


def memberships_url(context_id: str) -> str:
    return f"{INTERNAL_BASE}/nrps/{quote(context_id, safe='')}/memberships?type_id={TYPE_ID}"


def lineitem_url(context_id: str, item_id: int) -> str:
    return f"{INTERNAL_BASE}/ags/{quote(context_id, safe='')}/lineitems/{item_id}/lineitem?type_id={TYPE_ID}"


def ags_claim(context_id: str, lineitem: int | None = None) -> dict[str, Any]:
    claim: dict[str, Any] = {"scope": [LINEITEM_SCOPE, *READ_SCOPES[1:], RESULT_SCOPE, SCORE_SCOPE],
                             "lineitems": lineitems_url(context_id)}
    if lineitem is not None:
        claim["lineitem"] = lineitem_url(context_id, lineitem)
    return claim


def item_json(row: Any) -> dict[str, Any]:
    item = {"id": lineitem_url(row.context_id, row.id), "label": row.label, "scoreMaximum": row.score_maximum}
    for key, column in (("resourceId", "resource_id"), ("resourceLinkId", "resource_link_id"), ("tag", "tag")):
        if getattr(row, column):
            item[key] = getattr(row, column)
    return item


class DevTokenHandler(DevHandler):
    """``POST /hub/coursehub/dev/token``: client_credentials with a private_key_jwt assertion."""

    endpoint = "token"

    async def post(self) -> None:
        if await self.fault():
            return
        if self.request.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return self.oauth_error(400, "invalid_request", "the token request must be form-encoded")
        form = {k: self.get_body_argument(k, "") for k in ("grant_type", "client_assertion_type",
                                                          "client_assertion", "scope")}
        if form["grant_type"] != "client_credentials":
            return self.oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if form["client_assertion_type"] != ASSERTION_TYPE:
            return self.oauth_error(400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        scopes = form["scope"].split()
        if not scopes or not set(scopes) <= SCOPES:
            return self.oauth_error(400, "invalid_scope", f"unknown or no scope: {form['scope']!r}")
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            return self.oauth_error(400, "invalid_client", f"the client assertion is not a JWT ({error})")
        if not header.get("kid"):
            return self.oauth_error(400, "invalid_client", "JWS signature invalid: the assertion has no kid")
        client = str(unverified.get("iss") or "")
        if client != DEV_CLIENT_ID and await asyncio.to_thread(state.get_client, self.engine, client) is None:
            return self.oauth_error(401, "invalid_client", f"unknown client {client!r}")
        try:
            keys = jwt.PyJWKSet.from_dict(json.loads((await self.fetch(TOOL_JWKS)).body))
            key = next(k for k in keys.keys if k.key_id == header["kid"])
        except StopIteration:
            return self.oauth_error(401, "invalid_client", f"the tool's JWKS has no key {header['kid']!r}")
        try:
            claims = jwt.decode(assertion, key.key, algorithms=["RS256"], audience=TOKEN_URL, issuer=client,
                                options={"require": ["exp", "iat", "jti", "sub"]})
        except jwt.PyJWTError as error:
            return self.oauth_error(401, "invalid_client", f"the client assertion is not acceptable ({error})")
        if claims["sub"] != client:
            return self.oauth_error(401, "invalid_client", "the assertion's sub must equal its iss (the client id)")
        if claims["exp"] - time.time() > 3600:
            return self.oauth_error(401, "invalid_client", "the assertion lives longer than an hour")
        if not await asyncio.to_thread(state.use_jti, self.engine, str(claims["jti"]), "assertion", claims["exp"]):
            return self.oauth_error(401, "invalid_client", "the assertion's jti was used before (replay)")
        token = secrets.token_urlsafe(24)
        await self.write_rows(state.tokens, token=token, client_id=client, scopes=" ".join(scopes),
                              expires_at=time.time() + 3600)
        self.json({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": " ".join(scopes)})


class DevLineItemsHandler(DevHandler):
    """``/hub/coursehub/dev/ags/{context}/lineitems``: GET (filters, Link paging), POST."""

    endpoint = "lineitems"

    async def get(self, context: str) -> None:
        if await self.fault() or not await self.authorized(*READ_SCOPES) or not self.moodle_query():
            return
        page = max(0, int(self.get_argument("page", "0") or 0))
        query = select(state.lineitems).where(state.lineitems.c.context_id == context)
        for arg, column in (("resource_id", "resource_id"), ("resource_link_id", "resource_link_id"), ("tag", "tag")):
            if self.get_argument(arg, ""):
                query = query.where(getattr(state.lineitems.c, column) == self.get_argument(arg))
        rows = await self.read_rows(query.order_by(state.lineitems.c.id))
        chunk = rows[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
        if (page + 1) * PAGE_SIZE < len(rows):
            args = {k: self.get_argument(k) for k in self.request.arguments if k != "page"}
            self.set_header("Link", f'<{lineitems_url(context).split("?")[0]}?{urlencode({**args, "page": page + 1})}>; rel="next"')
        self.json([item_json(r) for r in chunk], "application/vnd.ims.lis.v2.lineitemcontainer+json")

    async def post(self, context: str) -> None:
        if await self.fault() or not await self.authorized(LINEITEM_SCOPE) or not self.moodle_query():
            return
        if not self.media_type("application/vnd.ims.lis.v2.lineitem+json"):
            return
        body = self.body_json()
        if not isinstance(body, dict):
            return self.problem(400, "the line item is not a JSON object")
        maximum = body.get("scoreMaximum")
        if not isinstance(maximum, (int, float)) or isinstance(maximum, bool) or maximum <= 0:
            return self.problem(400, "scoreMaximum must be a number > 0")
        if not str(body.get("label") or "").strip():
            return self.problem(400, "label is required")
        row_id = await self.write_rows(
            state.lineitems, context_id=context, client_id=self.client, label=str(body["label"]),
            score_maximum=float(maximum), resource_id=str(body.get("resourceId") or ""),
            resource_link_id=str(body.get("resourceLinkId") or ""), tag=str(body.get("tag") or ""))
        rows = await self.read_rows(select(state.lineitems).where(state.lineitems.c.id == row_id))
        self.set_status(201)
        self.json(item_json(rows[0]), "application/vnd.ims.lis.v2.lineitem+json")


class DevScoresHandler(DevHandler):
    """``POST /hub/coursehub/dev/ags/{context}/lineitems/{id}/lineitem/scores``."""

    endpoint = "scores"

    async def post(self, context: str, item_id: str) -> None:
        if await self.fault() or not await self.authorized(SCORE_SCOPE) or not self.moodle_query():
            return
        if not self.media_type("application/vnd.ims.lis.v1.score+json"):
            return
        items = await self.read_rows(select(state.lineitems).where(
            state.lineitems.c.id == int(item_id), state.lineitems.c.context_id == context))
        if not items:
            return self.problem(404, f"no line item {item_id} in context {context}")
        body = self.body_json()
        problems = score_problems(body)
        if problems:
            return self.problem(400, "; ".join(problems))
        older = await self.read_rows(select(func.max(state.scores.c.timestamp)).where(
            state.scores.c.lineitem_id == int(item_id), state.scores.c.user_id == body["userId"]))
        last = older[0][0] if older else None
        if last and _moment(last) > _moment(body["timestamp"]):
            return self.problem(400, "the score is older than the last one of this user (timestamp)")
        await self.write_rows(
            state.scores, lineitem_id=int(item_id), user_id=str(body["userId"]),
            score_given=body.get("scoreGiven"), score_maximum=body.get("scoreMaximum"),
            timestamp=body["timestamp"], activity_progress=body["activityProgress"],
            grading_progress=body["gradingProgress"], received_at=time.time())
        self.set_status(200)
        self.finish()


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def score_problems(body: Any) -> list[str]:
    """Everything wrong with an AGS score (section 3.4)."""
    if not isinstance(body, dict):
        return ["the score is not a JSON object"]
    problems = []
    if not str(body.get("userId") or ""):
        problems.append("userId is required")
    given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
    if given is not None:
        if not isinstance(given, (int, float)) or isinstance(given, bool) or given < 0:
            problems.append("scoreGiven must be a number >= 0")
        if not isinstance(maximum, (int, float)) or isinstance(maximum, bool) or maximum <= 0:
            problems.append("scoreMaximum must be a number > 0 when scoreGiven is sent")
    if not ZONED.match(str(body.get("timestamp") or "")):
        problems.append("timestamp must be ISO 8601 with a time zone")
    if body.get("activityProgress") not in ACTIVITY:
        problems.append(f"activityProgress must be one of {sorted(ACTIVITY)}")
    if body.get("gradingProgress") not in GRADING:
        problems.append(f"gradingProgress must be one of {sorted(GRADING)}")
    return problems


class DevMembershipsHandler(DevHandler):
    """``GET /hub/coursehub/dev/nrps/{context}/memberships``: NRPS 2.0, paged by ``limit``."""

    endpoint = "memberships"

    async def get(self, context: str) -> None:
        if await self.fault() or not await self.authorized(NRPS_SCOPE) or not self.moodle_query():
            return
        wanted = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
        if wanted not in self.request.headers.get("Accept", ""):
            # Schoology does the same: no membership container unless it is asked for.
            return self.problem(406, f"Accept must name {wanted}")
        rows = await self.read_rows(select(state.rosters).where(state.rosters.c.context_id == context))
        members = json.loads(rows[0].members) if rows else []
        limit = max(1, min(int(self.get_argument("limit", "50") or 50), 500))
        page = max(0, int(self.get_argument("page", "0") or 0))
        if (page + 1) * limit < len(members):
            args = {k: self.get_argument(k) for k in self.request.arguments if k != "page"}
            base = memberships_url(context).split("?")[0]
            self.set_header("Link", f'<{base}?{urlencode({**args, "limit": limit, "page": page + 1})}>; rel="next"')
        self.json({"id": memberships_url(context), "context": {"id": context},
                   "members": members[page * limit:(page + 1) * limit]}, wanted)


class DevRosterHandler(DevHandler):
    """``PUT /hub/coursehub/dev/roster`` (coursehub API token): {context, members} - the
    course's members as the LMS will list them."""

    async def put(self) -> None:
        if not self.admin():
            return
        body = self.body_json() or {}

        def run():
            state.ensure_tables(self.engine)
            with self.engine.begin() as conn:
                conn.execute(delete(state.rosters).where(state.rosters.c.context_id == body["context"]))
                conn.execute(state.rosters.insert().values(context_id=body["context"],
                                                           members=json.dumps(body.get("members", []))))

        await asyncio.to_thread(run)
        self.json({"ok": True})


class DevGradebookHandler(DevHandler):
    """``GET /hub/coursehub/dev/gradebook?context=...`` (coursehub API token): what the LMS
    holds - line items, every score received, LTI 1.1 results - for tests to read."""

    async def get(self) -> None:
        if not self.admin():
            return
        context = self.get_argument("context")
        items = await self.read_rows(select(state.lineitems).where(state.lineitems.c.context_id == context))
        ids = [r.id for r in items]
        received = await self.read_rows(select(state.scores).where(state.scores.c.lineitem_id.in_(ids))
                                        .order_by(state.scores.c.id)) if ids else []
        results = await self.read_rows(select(state.outcomes).where(state.outcomes.c.context_id == context)
                                       .order_by(state.outcomes.c.id))
        self.json({
            "lineitems": [item_json(r) for r in items],
            "scores": [{"lineitem": lineitem_url(context, r.lineitem_id), "userId": r.user_id,
                        "scoreGiven": r.score_given, "scoreMaximum": r.score_maximum,
                        "timestamp": r.timestamp} for r in received],
            "outcomes": [{"resource_link_id": r.resource_link_id, "user_id": r.user_id, "score": r.score}
                         for r in results],
        })


class DevFaultsHandler(DevHandler):
    """``POST /hub/coursehub/dev/faults`` (coursehub API token): {endpoint, mode, count}, or
    {"revoke": true} to forget every access token issued."""

    async def post(self) -> None:
        if not self.admin():
            return
        body = self.body_json() or {}
        if body.get("revoke"):
            await asyncio.to_thread(self._revoke)
        else:
            await asyncio.to_thread(state.set_fault, self.engine, str(body["endpoint"]), str(body.get("mode", "500")),
                                    int(body.get("count", 1)))
        self.json({"ok": True})

    def _revoke(self) -> None:
        state.ensure_tables(self.engine)
        with self.engine.begin() as conn:
            conn.execute(delete(state.tokens))

