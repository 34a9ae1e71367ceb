"""Per-platform cache of LMS signing keys (JWKS), fetched off the event loop.

NOTE: ltiauthenticator 1.6.3 builds a new ``jwt.PyJWKClient`` on every LTI 1.3 launch and
fetches the platform's JWKS synchronously on the hub's event loop, so one slow LMS stalls
every request of the hub. Here each JWKS URL has its own cache entry and lock: keys are
fetched in a worker thread with a short timeout, kept for ``ttl`` seconds, refetched at once
when a token names an unknown ``kid`` (key rotation) but at most once per
``min_refetch_interval`` (so a flood of made-up kids cannot hammer the LMS), and served stale
for a while if the LMS is down. A slow LMS delays only launches from that LMS.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import jwt


class JWKSError(Exception):
    """The key for a token cannot be found; ``str()`` says why in words for a person."""


class UnknownKeyError(JWKSError):
    """The platform's JWKS has no key with the token's kid."""


class JWKSUnavailableError(JWKSError):
    """The platform's JWKS could not be fetched (timeout, HTTP error, not JSON)."""


def fetch_jwks_with_pyjwt(url: str, timeout: float) -> dict[str, Any]:
    """Blocking fetch of a JWKS document with PyJWT's own client (no caching there)."""
    client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=timeout)
    return client.fetch_data()


@dataclass
class _Entry:
    keys: dict[str | None, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    last_attempt: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pinned: bool = False


def signing_keys(jwks: dict[str, Any]) -> dict[str | None, jwt.PyJWK]:
    """{kid: key} of the usable signature keys of a JWKS document (kid None = the only key)."""
    try:
        keyset = jwt.PyJWKSet.from_dict(jwks)
    except jwt.PyJWTError as error:
        raise JWKSUnavailableError(f"the JWKS holds no usable key ({error})") from None
    keys: dict[str | None, jwt.PyJWK] = {}
    for key in keyset.keys:
        if key.public_key_use not in (None, "sig"):
            continue
        keys[key.key_id] = key
    if len(keys) == 1:
        keys.setdefault(None, next(iter(keys.values())))
    return keys


class JWKSCache:
    """``await cache.get_signing_key(jwks_url, kid)`` -> ``jwt.PyJWK``."""

    def __init__(
        self,
        *,
        ttl: float = 600,
        min_refetch_interval: float = 10,
        timeout: float = 5,
        max_stale: float = 86400,
        fetch: Callable[[str, float], dict[str, Any]] = fetch_jwks_with_pyjwt,
        clock: Callable[[], float] = time.monotonic,
        max_workers: int = 4,
    ):
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self.timeout = timeout
        self.max_stale = max_stale
        self._fetch = fetch
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="coursehub-jwks")
        self.fetch_count = 0

    def pin(self, jwks_url: str, jwks: dict[str, Any]) -> None:
        """Serves ``jwks`` for ``jwks_url`` without ever fetching (the hub's own dev platform)."""
        self._entries[jwks_url] = _Entry(keys=signing_keys(jwks), fetched_at=self._clock(), pinned=True)

    async def get_signing_key(self, jwks_url: str, kid: str | None) -> jwt.PyJWK:
        entry = self._entries.setdefault(jwks_url, _Entry())
        if entry.pinned or (self._fresh(entry) and kid in entry.keys):
            return self._pick(entry, jwks_url, kid)
        async with entry.lock:
            # Whoever held the lock may have refreshed the keys meanwhile.
            if self._fresh(entry) and kid in entry.keys:
                return self._pick(entry, jwks_url, kid)
            now = self._clock()
            if now - entry.last_attempt >= self.min_refetch_interval:
                entry.last_attempt = now
                await self._refresh(entry, jwks_url)
            elif not self._fresh(entry) and not entry.keys:
                raise JWKSUnavailableError(
                    f"the LMS's signing keys at {jwks_url} could not be fetched a moment ago; "
                    "try the launch again shortly"
                )
            return self._pick(entry, jwks_url, kid)

    def _fresh(self, entry: _Entry) -> bool:
        return self._clock() - entry.fetched_at < self.ttl

    async def _refresh(self, entry: _Entry, jwks_url: str) -> None:
        loop = asyncio.get_running_loop()
        self.fetch_count += 1
        try:
            data = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._fetch, jwks_url, self.timeout),
                timeout=self.timeout + 1,
            )
            keys = signing_keys(data)
        except (asyncio.TimeoutError, jwt.PyJWKClientError, OSError, ValueError, JWKSError) as error:
            if entry.keys and self._clock() - entry.fetched_at < self.max_stale:
                return  # keep serving the last good keys while the LMS is unreachable
            reason = "timed out" if isinstance(error, asyncio.TimeoutError) else str(error)
            raise JWKSUnavailableError(
                f"could not fetch the LMS's signing keys from {jwks_url}: {reason}"
            ) from None
        entry.keys = keys
        entry.fetched_at = self._clock()

    def _pick(self, entry: _Entry, jwks_url: str, kid: str | None) -> jwt.PyJWK:
        try:
            return entry.keys[kid]
        except KeyError:
            raise UnknownKeyError(
                f"the id_token is signed with key id {kid!r}, which the LMS does not publish "
                f"at {jwks_url}"
            ) from None

    def close(self) -> None:
        self._executor.shutdown(wait=False)
