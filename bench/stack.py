"""The bench's own stack and the shared measuring helpers.

The stack is the integration tests' isolated project (tests/harness.py: its env file,
secrets, test settings and `scripts/up.sh`), always under the name coursehub-bench on
127.0.0.1:18250, so a benchmark never touches an admin's stack or a test run's.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlparse

# Set before harness is imported: it reads them once, at import.
STACK_NAME = "coursehub-bench"
PORT = 18250
os.environ["COURSEHUB_TEST_STACK"] = STACK_NAME
os.environ["COURSEHUB_TEST_PORT"] = str(PORT)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import harness  # noqa: E402
import requests  # noqa: E402

VERSION = (ROOT / "VERSION").read_text().strip()
STUDENT_IMAGE = f"coursehub/student:{VERSION}"
POLL = 0.1


def progress(message: str) -> None:
    """Progress goes to stderr; stdout carries only the table."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def wait_until(predicate, timeout: float, what: str, interval: float = POLL):
    return harness.wait_until(predicate, timeout, interval, what)


def follow_hub(session: requests.Session, response: requests.Response) -> requests.Response:
    """Follows redirects while they stay on the hub's pages; stops before the user's server, so
    coursehub and the baseline both end their launch at the same point (spawn or pending page)."""
    for _ in range(10):
        location = response.headers.get("Location")
        if response.status_code not in (301, 302, 303, 307) or not location:
            return response
        url = urljoin(response.url, location)
        if not urlparse(url).path.startswith("/hub/"):
            return response
        response = session.get(url, allow_redirects=False, timeout=60)
    raise AssertionError(f"too many redirects from {response.url}")


def status_ok(base: str, server_path: str, token: str) -> bool:
    """The server's own API answers through the proxy (the route exists and the server runs)."""
    try:
        response = requests.get(f"{base}{server_path}api/status",
                                headers={"Authorization": f"token {token}"}, timeout=5)
    except requests.RequestException:
        return False
    return response.status_code == 200


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: with N=10, p95 is the slowest run (no interpolation guesses)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


@dataclass
class Bench:
    """What every row function gets: the running bench stack, the run count and, started on
    first use, the plain-DockerSpawner baseline hub (bench.plain)."""

    stack: harness.Stack
    runs: int
    course_label: str = field(default_factory=lambda: harness.unique("bench"))
    _plain: object = None

    @property
    def plain(self):
        if self._plain is None:
            from .plain import PlainHub

            self._plain = PlainHub.start(self.stack)
        return self._plain

    def close(self) -> None:
        if self._plain is not None:
            self._plain.stop()


def up(reuse: bool, keep: bool) -> harness.Stack:
    """The bench stack, healthy: from nothing (old containers and volumes removed) unless `reuse`."""
    os.environ["COURSEHUB_TEST_REUSE"] = "1" if reuse else "0"
    os.environ["COURSEHUB_TEST_KEEP"] = "1" if keep else "0"
    progress(f"bench stack {STACK_NAME} on 127.0.0.1:{PORT} ({'reused if up' if reuse else 'fresh'})")
    started = time.monotonic()
    try:
        # harness prints its start time; stdout is the table's alone.
        with contextlib.redirect_stdout(sys.stderr):
            stack = harness.start_stack()
    except harness.StackStartError as error:
        raise SystemExit(f"bench: {error}") from None
    progress(f"bench stack ready in {time.monotonic() - started:.1f} s")
    return stack


def down(stack: harness.Stack) -> None:
    """Removes the bench stack unless --keep (its volumes go at the next fresh start)."""
    harness.stop_stack(stack)
