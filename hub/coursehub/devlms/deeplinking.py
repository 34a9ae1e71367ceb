"""The dev platform's side of LTI Deep Linking 2.0: the settings of a request (where the tool
answers, and a ``data`` token only this platform can make) and the return endpoint that checks
the tool's LtiDeepLinkingResponse strictly - signature against the tool's JWKS, iss, aud,
deployment, nonce, message type, version, the data echoed - and then makes the link, with its
line item, in the emulated course.
"""

from __future__ import annotations

import asyncio
import html
import json

import jwt

from ..core.devplatform import DEV_CLIENT_ID
from ..core.logline import logline
from ..lti.toolkeys import SigningKey
from . import state
from .base import DevHandler
from .services import TOOL_JWKS, lineitem_url

DATA_AUDIENCE = "coursehub-dev-platform/deep-linking"
RETURN_PATH = "/hub/coursehub/dev/deep-link-return"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"

def deep_linking_settings(base_url: str, key: SigningKey, context_id: str, client_id: str,
                          deployment_id: str, issuer: str) -> dict:
    """The deep_linking_settings claim of a request: the tool must echo ``data`` unchanged."""
    data = key.sign({"aud": DATA_AUDIENCE, "context": context_id, "client": client_id,
                     "deployment": deployment_id, "issuer": issuer}, lifetime=3600)
    return {
        "deep_link_return_url": base_url.rstrip("/") + RETURN_PATH,
        "accept_types": ["ltiResourceLink"],
        "accept_presentation_document_targets": ["window", "iframe"],
        "accept_multiple": False,
        "auto_create": True,
        "title": "coursehub",
        "data": data,
    }


def item_problems(items) -> list[str]:
    if not isinstance(items, list) or len(items) != 1:
        return ["content_items must hold exactly one item (accept_multiple is false)"]
    item = items[0]
    problems = []
    if not isinstance(item, dict) or item.get("type") != "ltiResourceLink":
        return ["the item's type must be ltiResourceLink (the only accepted type)"]
    if not str(item.get("title") or "").strip():
        problems.append("the item has no title")
    custom = item.get("custom", {})
    if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
        problems.append("custom must be an object of strings")
    line = item.get("lineItem")
    if line is not None:
        maximum = line.get("scoreMaximum") if isinstance(line, dict) else None
        if not isinstance(maximum, (int, float)) or isinstance(maximum, bool) or maximum <= 0:
            problems.append("lineItem.scoreMaximum must be a number > 0")
    return problems


class DevDeepLinkReturnHandler(DevHandler):
    """``POST /hub/coursehub/dev/deep-link-return``: the browser brings the tool's answer."""

    endpoint = "deep-link-return"

    def refuse(self, message: str) -> None:
        self.log.warning(logline("refused", kind="dev-platform", endpoint=self.endpoint, message=message))
        self.set_status(400)
        self.finish(f"<!DOCTYPE html><html><body><h1>Deep linking refused</h1>"
                    f"<p id='refused'>{html.escape(message)}</p></body></html>")

    async def post(self) -> None:
        key: SigningKey = self.authenticator.dev_platform_key
        token = self.get_body_argument("JWT", "")
        try:
            header = jwt.get_unverified_header(token)
            keys = jwt.PyJWKSet.from_dict(json.loads((await self.fetch(TOOL_JWKS)).body))
            tool_key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
            if tool_key is None:
                return self.refuse(f"the tool's JWKS has no key {header.get('kid')!r}")
            unverified = jwt.decode(token, options={"verify_signature": False})
            data = jwt.decode(str(unverified.get(DL + "data") or ""), key.private_key.public_key(),
                              algorithms=["RS256"], audience=DATA_AUDIENCE)
            claims = jwt.decode(token, tool_key.key, algorithms=["RS256"], audience=data["issuer"],
                                issuer=data["client"], options={"require": ["exp", "iat", "nonce"]})
        except (jwt.PyJWTError, ValueError, KeyError) as error:
            return self.refuse(f"the deep linking response is not acceptable ({error})")
        if data["client"] not in (DEV_CLIENT_ID,) and await asyncio.to_thread(state.get_client, self.engine,
                                                                             data["client"]) is None:
            return self.refuse(f"unknown client {data['client']!r}")
        checks = {
            CLAIM + "message_type": "LtiDeepLinkingResponse",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": data["deployment"],
        }
        for claim, wanted in checks.items():
            if claims.get(claim) != wanted:
                return self.refuse(f"{claim.rsplit('/', 1)[-1]} must be {wanted!r}, not {claims.get(claim)!r}")
        if not await asyncio.to_thread(state.use_jti, self.engine, "dl:" + str(claims["nonce"])[:100],
                                       "deep-linking", claims["exp"]):
            return self.refuse("this deep linking response was posted before (nonce)")
        if not await asyncio.to_thread(state.use_jti, self.engine, "dldata:" + str(data.get("jti", ""))[:90],
                                       "deep-linking", data["exp"]):
            return self.refuse("this deep linking request was answered before (data)")
        items = claims.get(DL + "content_items")
        problems = item_problems(items)
        if problems:
            return self.refuse("; ".join(problems))
        created = await asyncio.to_thread(self._create, data["context"], data["client"], items[0])
        self.log.info(logline("deep_link", kind="dev-platform", context=data["context"], link=created["link"]))
        self.finish("<!DOCTYPE html><html><body><h1>Link added to the course</h1>"
                    f"<p>{html.escape(items[0]['title'])}</p><pre id='created'>{html.escape(json.dumps(created))}</pre>"
                    "</body></html>")

    def _create(self, context: str, client: str, item: dict) -> dict:
        state.ensure_tables(self.engine)
        line = item.get("lineItem")
        with self.engine.begin() as conn:
            link_id = conn.execute(state.links.insert().values(
                context_id=context, title=item["title"], custom=json.dumps(item.get("custom", {})),
                lineitem_id=None)).inserted_primary_key[0]
            item_id = None
            if line:
                item_id = conn.execute(state.lineitems.insert().values(
                    context_id=context, client_id=client, label=str(line.get("label") or item["title"]),
                    score_maximum=float(line["scoreMaximum"]), resource_id=str(line.get("resourceId") or ""),
                    resource_link_id=f"dl-{link_id}", tag="")).inserted_primary_key[0]
                conn.execute(state.links.update().where(state.links.c.id == link_id).values(lineitem_id=item_id))
        return {"link": f"dl-{link_id}", "title": item["title"], "custom": item.get("custom", {}),
                "lineitem": item_id, "lineitem_url": lineitem_url(context, item_id) if item_id else None}

