"""LTI 1.1 launch verification: consumer key, timestamp window, OAuth1 signature (through
ltiauthenticator's validator and oauthlib), then the nonce, recorded only once all else holds."""

from __future__ import annotations

from typing import Any, Mapping

from ltiauthenticator.lti11.validator import LTI11LaunchValidator
from ltiauthenticator.utils import convert_request_to_dict
from tornado.web import HTTPError

from ..storage.schema import MAX_KEY_LENGTH, MAX_NONCE_LENGTH
from .checks import timestamp_refusal


class _NoNonceMemory(dict):
    """Stands in for upstream's class-wide LTI 1.1 nonce cache and remembers nothing.

    NOTE: ltiauthenticator 1.6.3 (lti11/validator.py) checks and *records* (timestamp, nonce)
    in ``LTI11LaunchValidator.nonces``, a process-wide ``TTLCache(35, 35.0)``, before it
    verifies the signature, so a forged request could burn a real launch's nonce and a
    restart forgets them all. The replay check is ``Store.use_lti11_nonce`` instead, made only
    after the signature holds. Upstream reads the attribute through the class name, so a
    subclass attribute cannot shadow it; replacing it is the one monkeypatch in coursehub.
    """

    def __contains__(self, key: object) -> bool:
        return False

    def setdefault(self, key: Any, default: Any = None) -> set:
        return set()


class CoursehubLTI11Validator(LTI11LaunchValidator):
    """Upstream's LTI 1.1 validator with its in-process nonce memory switched off."""

    def __init__(self, consumers: Mapping[str, str]):
        if not isinstance(LTI11LaunchValidator.nonces, _NoNonceMemory):
            LTI11LaunchValidator.nonces = _NoNonceMemory()
        super().__init__(dict(consumers))

async def verify_lti11(auth: Any, handler: Any) -> tuple[str, dict[str, str]]:
    """(consumer key, launch fields without oauth_*) of a valid, fresh LTI 1.1 launch; raises
    the authenticator's refusal otherwise. ``auth`` is the CoursehubAuthenticator."""
    args = convert_request_to_dict(handler.request.arguments)
    consumer_key = args.get("oauth_consumer_key", "")
    consumers = auth.settings.lti11_consumers

    def refuse(status: int, reason: str, message: str) -> HTTPError:
        return auth.refuse(handler, status, reason, "1.1", consumer_key, message)

    if consumer_key not in consumers:
        raise refuse(
            401, "unknown_key",
            f"Consumer key {consumer_key!r} is not registered with coursehub. Copy the key "
            "and secret printed by `coursehub lti-config` into the LMS's tool settings.",
        )
    raw_timestamp = args.get("oauth_timestamp", "")
    stale = timestamp_refusal(raw_timestamp)
    if stale:
        raise refuse(*stale)
    nonce = args.get("oauth_nonce", "")
    if len(nonce) > MAX_NONCE_LENGTH or len(consumer_key) > MAX_KEY_LENGTH:
        raise refuse(400, "bad_nonce", "The launch's oauth_nonce is too long.")
    launch_url = auth.public_base(handler.request) + handler.request.uri
    try:
        CoursehubLTI11Validator(consumers).validate_launch_request(
            launch_url, handler.request.headers, args
        )
    except HTTPError as error:
        if "signature" in (error.log_message or ""):
            raise refuse(
                401, "bad_signature",
                "The launch signature is invalid: the shared secret in the LMS does not match "
                f"key {consumer_key!r}, or the launch URL is not exactly {launch_url.split('?')[0]} "
                "(a proxy must keep Host and X-Forwarded-Proto).",
            )
        raise refuse(error.status_code, "bad_request", f"The LMS's launch is incomplete: {error.log_message}.")
    if not await auth.store.use_lti11_nonce(consumer_key, nonce, int(raw_timestamp)):
        raise refuse(
            401, "replayed_nonce",
            "This launch was already used (its oauth_nonce was seen before). Each launch "
            "works once: open the tool again from the LMS.",
        )
    return consumer_key, {k: v for k, v in args.items() if not k.startswith("oauth_")}
