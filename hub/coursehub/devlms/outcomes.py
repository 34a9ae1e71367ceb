"""The dev platform's LTI 1.1 Basic Outcomes service (``POST /hub/coursehub/dev/outcomes``):
the OAuth 1.0a signature checked by oauthlib's own endpoint, the body hash, a one-time nonce,
the POX envelope, a sourcedid the platform issued (Moodle-style JSON with a hash), a score in
0..1. It answers POX success or failure, as a real platform does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint

from ..core.grades import POX_NS
from ..core.logline import logline
from . import state
from .base import DevHandler


def sourcedid(secret: str, context_id: str, link_id: str, user_id: str) -> str:
    """A grade slot as Moodle writes them: JSON data plus a hash only the platform can make."""
    data = {"instanceid": link_id, "userid": user_id, "typeid": "7", "contextid": context_id}
    digest = hmac.new(secret.encode(), json.dumps(data, sort_keys=True).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"data": data, "hash": digest})


def read_sourcedid(secret: str, value: str) -> dict[str, str] | None:
    try:
        parsed = json.loads(value)
        data = parsed["data"]
        good = hmac.new(secret.encode(), json.dumps(data, sort_keys=True).encode(), hashlib.sha256).hexdigest()
    except (ValueError, KeyError, TypeError):
        return None
    return data if hmac.compare_digest(good, str(parsed.get("hash", ""))) else None


class _Consumers(RequestValidator):
    """oauthlib's questions about consumers, answered from the hub's LTI 1.1 consumers."""

    def __init__(self, consumers: dict[str, str], used):
        super().__init__()
        self.consumers, self.used = consumers, used

    @property
    def enforce_ssl(self) -> bool:
        return False

    def check_client_key(self, client_key: str) -> bool:
        return 0 < len(client_key) <= 255

    def check_nonce(self, nonce: str) -> bool:
        return 0 < len(nonce) <= 128

    def validate_client_key(self, client_key: str, request) -> bool:
        return client_key in self.consumers

    def get_client_secret(self, client_key: str, request) -> str:
        return self.consumers.get(client_key, "dummy")

    @property
    def dummy_client(self) -> str:
        return "dummy"

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request, request_token=None,
                                     access_token=None) -> bool:
        return abs(time.time() - int(timestamp)) <= 300 and self.used(f"{client_key}:{nonce}")


def answer(success: bool, description: str, message_id: str) -> str:
    major = "success" if success else "failure"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<imsx_POXEnvelopeResponse xmlns="{POX_NS}"><imsx_POXHeader><imsx_POXResponseHeaderInfo>'
        "<imsx_version>V1.0</imsx_version><imsx_messageIdentifier>coursehub-dev</imsx_messageIdentifier>"
        f"<imsx_statusInfo><imsx_codeMajor>{major}</imsx_codeMajor><imsx_severity>status</imsx_severity>"
        f"<imsx_description>{escape(description)}</imsx_description>"
        f"<imsx_messageRefIdentifier>{escape(message_id)}</imsx_messageRefIdentifier>"
        "<imsx_operationRefIdentifier>replaceResult</imsx_operationRefIdentifier></imsx_statusInfo>"
        "</imsx_POXResponseHeaderInfo></imsx_POXHeader><imsx_POXBody><replaceResultResponse/>"
        "</imsx_POXBody></imsx_POXEnvelopeResponse>"
    )


class DevOutcomesHandler(DevHandler):
    endpoint = "outcomes"

    def pox(self, success: bool, description: str, message_id: str = "") -> None:
        if not success:
            self.log.warning(logline("refused", kind="dev-platform", endpoint="outcomes", message=description))
        self.set_header("Content-Type", "application/xml")
        self.finish(answer(success, description, message_id))

    async def post(self) -> None:
        if await self.fault():
            return
        consumers = dict(self.authenticator.settings.lti11_consumers)
        body = self.request.body or b""
        headers = dict(self.request.headers)
        if headers.get("Content-Type", "").split(";")[0] != "application/xml":
            return self.pox(False, "Content-Type must be application/xml")

        def used(nonce: str) -> bool:
            return state.use_jti(self.engine, "oauth:" + nonce[:100], "oauth", time.time() + 600)

        def verify() -> tuple[bool, Any]:
            endpoint = SignatureOnlyEndpoint(_Consumers(consumers, used))
            return endpoint.validate_request(self.request.full_url(), "POST", body, headers)

        valid, request = await asyncio.to_thread(verify)
        if not valid:
            return self.pox(False, "OAuth signature, key, timestamp or nonce is invalid")
        params = dict(request.params)
        expected = base64.b64encode(hashlib.sha1(body).digest()).decode()
        if params.get("oauth_body_hash") != expected:
            return self.pox(False, "oauth_body_hash does not match the body")
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return self.pox(False, "the body is not XML")
        ns = {"x": POX_NS}
        message_id = root.findtext(".//x:imsx_messageIdentifier", default="", namespaces=ns)
        if root.findtext(".//x:imsx_version", default="", namespaces=ns) != "V1.0":
            return self.pox(False, "imsx_version must be V1.0", message_id)
        record = root.find(".//x:replaceResultRequest/x:resultRecord", ns)
        if record is None:
            return self.pox(False, "only replaceResultRequest is supported", message_id)
        slot = read_sourcedid(consumers[params["oauth_consumer_key"]],
                              record.findtext("x:sourcedGUID/x:sourcedId", default="", namespaces=ns))
        if slot is None:
            return self.pox(False, "unknown sourcedId", message_id)
        text = record.findtext("x:result/x:resultScore/x:textString", default="", namespaces=ns)
        try:
            score = float(text)
        except ValueError:
            return self.pox(False, f"resultScore {text!r} is not a number", message_id)
        if not 0.0 <= score <= 1.0:
            return self.pox(False, f"resultScore {score} is not within 0.0-1.0", message_id)
        await self.write_rows(state.outcomes, context_id=slot.get("contextid", ""), resource_link_id=slot["instanceid"],
                              user_id=slot["userid"], score=score, received_at=time.time())
        self.pox(True, f"Score for {slot['userid']} is now {score}", message_id)
