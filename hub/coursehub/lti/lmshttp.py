"""Every call the hub makes to an LMS: asynchronous (tornado's client, on the event loop,
never blocking it), with connect and request timeouts, and one error type whose message a
person can act on (what was called, what the LMS answered)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

CONNECT_TIMEOUT = 5
REQUEST_TIMEOUT = 20
# How much of an LMS's error body a message quotes.
QUOTE = 300


class LMSError(Exception):
    """An LMS call that failed: ``status`` (0: no answer) and a message naming the call."""

    def __init__(self, status: int, message: str, body: str = ""):
        self.status, self.body = status, body
        super().__init__(message)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self, what: str) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise LMSError(self.status, f"{what} did not answer JSON: {self.body[:QUOTE]!r}") from None


async def call(
    method: str, url: str, what: str, *, headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None, timeout: float = REQUEST_TIMEOUT,
) -> Answer:
    """One HTTP request to an LMS; 2xx is an Answer, anything else an LMSError naming ``what``."""
    if not url.startswith(("https://", "http://")):
        raise LMSError(0, f"{what}: {url!r} is not an http(s) URL")
    request = HTTPRequest(
        url, method=method, headers=dict(headers or {}), body=body,
        connect_timeout=CONNECT_TIMEOUT, request_timeout=timeout, follow_redirects=False,
        allow_nonstandard_methods=body is None and method == "POST",
    )
    try:
        response = await AsyncHTTPClient().fetch(request)
    except HTTPClientError as error:
        if error.code == 599:
            # tornado's code for no answer: timeouts and refused or broken connections.
            raise LMSError(0, f"{what} did not answer within {timeout:g} s ({error.message})") from None
        text = error.response.body.decode(errors="replace")[:QUOTE] if error.response is not None and error.response.body else ""
        raise LMSError(error.code, f"{what} answered {error.code}{': ' + text if text else ''}", text) from None
    except (OSError, TimeoutError) as error:
        raise LMSError(0, f"{what} did not answer ({type(error).__name__}: {error})") from None
    return Answer(response.code, dict(response.headers.get_all()), response.body or b"")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
