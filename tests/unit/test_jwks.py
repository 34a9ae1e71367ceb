"""JWKS cache against a real HTTP server on 127.0.0.1 (a thread in this process)."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from coursehub.lti.jwks import JWKSCache, JWKSUnavailableError, UnknownKeyError
from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem


class FakeLMS:
    """Serves a mutable JWKS; counts requests; can be made slow."""

    def __init__(self):
        self.keys = [SigningKey.from_pem(generate_private_key_pem())]
        self.requests = 0
        self.delay = 0.0
        lms = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                lms.requests += 1
                time.sleep(lms.delay)
                body = json.dumps({"keys": [k.jwk for k in lms.keys]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lms():
    server = FakeLMS()
    yield server
    server.close()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def run(coro):
    return asyncio.run(coro)


def test_key_is_fetched_once_and_cached(lms):
    cache = JWKSCache(ttl=60, min_refetch_interval=0)
    kid = lms.keys[0].kid

    async def main():
        first = await cache.get_signing_key(lms.url, kid)
        second = await cache.get_signing_key(lms.url, kid)
        return first, second

    first, second = run(main())
    assert first.key_id == kid and second is first
    assert lms.requests == 1


def test_unknown_kid_triggers_one_refetch_then_rate_limits(lms):
    clock = Clock()
    cache = JWKSCache(ttl=600, min_refetch_interval=10, clock=clock)

    async def main():
        await cache.get_signing_key(lms.url, lms.keys[0].kid)
        lms.keys.append(SigningKey.from_pem(generate_private_key_pem()))  # the LMS rotates
        clock.now += 11
        rotated = await cache.get_signing_key(lms.url, lms.keys[1].kid)
        assert rotated.key_id == lms.keys[1].kid
        assert lms.requests == 2
        for _ in range(20):  # a flood of made-up kids
            with pytest.raises(UnknownKeyError):
                await cache.get_signing_key(lms.url, "bogus")
        assert lms.requests == 2
        clock.now += 11
        with pytest.raises(UnknownKeyError):
            await cache.get_signing_key(lms.url, "bogus")
        assert lms.requests == 3

    run(main())


def test_expired_cache_is_refetched(lms):
    clock = Clock()
    cache = JWKSCache(ttl=60, min_refetch_interval=0, clock=clock)

    async def main():
        await cache.get_signing_key(lms.url, lms.keys[0].kid)
        clock.now += 30
        await cache.get_signing_key(lms.url, lms.keys[0].kid)
        assert lms.requests == 1
        clock.now += 31
        await cache.get_signing_key(lms.url, lms.keys[0].kid)
        assert lms.requests == 2

    run(main())


def test_slow_lms_times_out_without_blocking_the_event_loop(lms):
    lms.delay = 3.0
    cache = JWKSCache(timeout=0.5, min_refetch_interval=0)
    ticks = []

    async def ticker():
        for _ in range(15):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    async def main():
        started = time.monotonic()
        ticking = asyncio.create_task(ticker())
        with pytest.raises(JWKSUnavailableError):
            await cache.get_signing_key(lms.url, lms.keys[0].kid)
        elapsed = time.monotonic() - started
        await ticking
        return elapsed

    elapsed = run(main())
    assert elapsed < 2.5
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.3, "the event loop was blocked while the JWKS was fetched"


def test_unreachable_lms_serves_last_good_keys(lms):
    clock = Clock()
    cache = JWKSCache(ttl=60, min_refetch_interval=0, timeout=0.5, clock=clock)
    kid = lms.keys[0].kid

    async def main():
        await cache.get_signing_key(lms.url, kid)
        lms.close()
        clock.now += 120
        key = await cache.get_signing_key(lms.url, kid)
        assert key.key_id == kid

    run(main())


def test_unreachable_lms_without_keys_is_reported(lms):
    lms.close()
    cache = JWKSCache(timeout=0.5)
    with pytest.raises(JWKSUnavailableError, match="could not fetch"):
        run(cache.get_signing_key(lms.url, "k"))


def test_pinned_keys_never_fetch():
    key = SigningKey.from_pem(generate_private_key_pem())
    cache = JWKSCache(fetch=lambda url, timeout: pytest.fail("fetched"))
    cache.pin("/hub/coursehub/dev/jwks", key.jwks)
    found = run(cache.get_signing_key("/hub/coursehub/dev/jwks", key.kid))
    token = key.sign({"sub": "x"})
    assert jwt.decode(token, found.key, algorithms=["RS256"])["sub"] == "x"
