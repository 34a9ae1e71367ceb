"""LTI protocol decisions that need no request: each returns the refusal to raise, or nothing.

Every refusal is a ``Refusal``: an HTTPError whose message a person can act on, plus a short
``reason`` code for the log line ``coursehub.refused kind=lti reason=...`` and for tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from http.client import responses
from typing import Any, Mapping

from tornado.web import HTTPError

from ..storage.platforms import PlatformEntry
from ..storage.schema import LTI13State

# Upstream refuses LTI 1.1 timestamps further than this from the hub's clock (lti11/validator.py).
LTI11_TIMESTAMP_WINDOW = 30


class Refusal(HTTPError):
    """A request refused for ``reason`` (a short code for logs and tests). The message goes
    to the error page only (``jupyterhub_message``): whoever refuses has logged it once,
    structured, and tornado would log a second, unquoted copy of any ``log_message``."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(status, reason=responses.get(status))
        self.refusal = reason
        self.message = self.jupyterhub_message = message


def decode_state(state: str) -> dict[str, Any]:
    """Reads upstream's state (urlsafe base64 of JSON {state_id, next_url}); {} if malformed."""
    try:
        value = json.loads(base64.urlsafe_b64decode(state.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error):
        return {}
    return value if isinstance(value, dict) else {}


def audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [str(a) for a in aud or []]


def timestamp_refusal(raw_timestamp: str, now: float | None = None) -> tuple[int, str, str] | None:
    """Why an LTI 1.1 ``oauth_timestamp`` is refused (status, reason, text), or None."""
    # Upstream turns a non-numeric timestamp into a 500 (int() outside its try).
    if not raw_timestamp.isdigit():
        return 400, "bad_timestamp", "The launch has no valid oauth_timestamp."
    skew = int(time.time() if now is None else now) - int(raw_timestamp)
    if abs(skew) > LTI11_TIMESTAMP_WINDOW:
        return (
            401, "stale_timestamp",
            f"The launch is {abs(skew)} s {'old' if skew > 0 else 'in the future'} (at most "
            f"{LTI11_TIMESTAMP_WINDOW} s allowed). Open the tool again from the LMS; if it "
            "keeps happening, the clocks of the LMS server and the hub disagree (check NTP).",
        )
    return None


def state_refusal(
    row: LTI13State | None, issuer: str, audiences: list[str], nonce: str, max_age: float,
    now: float | None = None,
) -> tuple[int, str, str]:
    """Why a verified id_token could not claim its login's stored state (status, reason, text)."""
    if row is None:
        return 400, "unknown_state", "This login is unknown to the hub (state)."
    if row.used_at is not None:
        return 400, "replayed_state", "This login was already used once."
    if row.expired(max_age, now):
        return 400, "expired_state", f"This login took longer than {max_age:g} s."
    if row.issuer != issuer:
        return 401, "wrong_issuer", f"The id_token comes from {issuer!r} but the login started at {row.issuer!r}."
    if row.client_id not in audiences:
        return 401, "wrong_audience", f"The id_token is not for client {row.client_id!r}, which started this login."
    if nonce != row.nonce:
        return (401, "nonce_mismatch", "The id_token does not belong to this login (nonce); it was "
                "replayed or belongs to another login.")
    # Everything matched but another request claimed it first.
    return 400, "replayed_state", "This login was already used once."


# -- which registration a login belongs to ----------------------------------------------------
REGISTER_HINT = ("An admin registers it: paste the registration URL that `make lti-config` "
                 "prints into the LMS, or add it under lti13.platforms in the settings file.")
Refused = tuple[int, str, str]


def login_registration(
    entries: list[PlatformEntry], issuer: str, client_id: str
) -> tuple[PlatformEntry | None, Refused | None]:
    """The enabled registration of ``issuer`` a login initiation names by ``client_id`` (may be
    empty when the LMS has one client only), or why there is none."""
    if not entries:
        return None, (400, "unknown_issuer", f"This LMS (issuer {issuer!r}) is not registered with coursehub. {REGISTER_HINT}")
    enabled = [e for e in entries if e.enabled]
    named = [e for e in entries if e.platform.client_id == client_id]
    if not enabled or (named and not any(e.enabled for e in named)):
        return None, (403, "platform_disabled",
                      f"This LMS (issuer {issuer!r}) is registered but an admin disabled it "
                      "(`coursehub platforms enable NAME` turns it back on).")
    if not client_id and len(enabled) == 1:
        return enabled[0], None
    for entry in enabled:
        if entry.platform.client_id == client_id:
            return entry, None
    return None, (400, "unknown_client",
                  f"Client id {client_id or '(none)'!r} is not registered for this LMS. {REGISTER_HINT}")


def token_registration(entries: list[PlatformEntry], audiences: list[str], azp: str) -> PlatformEntry | None:
    """The enabled registration an id_token is for: its ``azp``, else its one audience."""
    by_client = {e.platform.client_id: e for e in entries if e.enabled}
    if azp and azp in by_client and azp in audiences:
        return by_client[azp]
    found = [by_client[a] for a in audiences if a in by_client]
    return found[0] if len(found) == 1 else None


def deployment_check(entry: PlatformEntry, deployment: str,
                     reason: str = "wrong_deployment") -> tuple[bool, Refused | None]:
    """(bind it, refusal) for a launch's ``deployment_id``: a dynamic registration that has
    none yet takes its first launch's (Canvas makes the deployment at install time)."""
    known = entry.platform.deployment_ids
    if not known and entry.platform.source == "dynamic" and deployment:
        return True, None
    if deployment in known:
        return False, None
    return False, (403, reason,
                   f"Deployment {deployment!r} of this LMS is not registered with coursehub; an admin "
                   "adds it to deployment_ids of the platform in the settings file, or registers "
                   "the tool again from the LMS.")
