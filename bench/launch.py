"""Launch -> ready server: p50/p95 over N sequential fresh students, coursehub vs plain.

coursehub: a signed LTI 1.1 POST, the hub's redirects (open page, spawn) until the spawn or
pending page, then polling the server's /api/status through the proxy until it answers 200.
Baseline: the same with the DummyAuthenticator login form of a stock DockerSpawner hub
(bench/plain.py). Images are warm (one untimed launch of each first), every server is stopped
before the next run, and the two alternate so that both see the same host load.
"""

from __future__ import annotations

import time

from .stack import Bench, harness, follow_hub, percentile, progress, status_ok, wait_until
from .table import Row, verdict

GOAL_RATIO = 1.15


def coursehub_launch(bench: Bench, user: str, role: str = "student") -> tuple[float, str, str]:
    """(seconds, hub username, course id) of one LTI launch until its server answers."""
    stack = bench.stack
    started = time.perf_counter()
    session, response = harness.lti11_login(stack, user=user, role=role, course=bench.course_label)
    landed = follow_hub(session, response)
    # .../hub/spawn-pending/<name>/<course> or .../hub/spawn/<name>/<course>
    parts = landed.url.rstrip("/").split("/")
    if landed.status_code >= 400 or "spawn" not in landed.url:
        raise AssertionError(f"launch of {user} ended at {landed.status_code} {landed.url}: {landed.text[:500]}")
    name, course = parts[-2], parts[-1]
    token = stack.env["COURSEHUB_API_TOKEN"]
    wait_until(lambda: status_ok(stack.url, f"/user/{name}/{course}/", token), 150,
               f"the coursehub server of {name}")
    return time.perf_counter() - started, name, course


def stop_coursehub(bench: Bench, name: str, course: str) -> None:
    bench.stack.api("DELETE", f"/users/{name}/servers/{course}")
    wait_until(lambda: bench.stack.find_container(name, course) is None, 60,
               f"the container of {name}/{course} to go", interval=0.5)


def _one_coursehub(bench: Bench) -> float:
    seconds, name, course = coursehub_launch(bench, harness.unique("bench"))
    stop_coursehub(bench, name, course)
    return seconds


def _one_plain(bench: Bench) -> float:
    user = harness.unique("plain")
    seconds = bench.plain.launch_seconds(user)
    bench.plain.stop_server(user)
    return seconds


def rows(bench: Bench) -> list[Row]:
    progress("warming up: the course's first staff launch provisions it; one untimed launch each")
    _, name, course = coursehub_launch(bench, harness.unique("teacher"), role="instructor")
    stop_coursehub(bench, name, course)
    _one_coursehub(bench)
    _one_plain(bench)
    ours: list[float] = []
    plain: list[float] = []
    for run in range(bench.runs):
        # Alternating the order cancels a drift in host load between the two.
        pair = (_one_coursehub, _one_plain) if run % 2 == 0 else (_one_plain, _one_coursehub)
        for measure in pair:
            (ours if measure is _one_coursehub else plain).append(measure(bench))
        progress(f"launch {run + 1}/{bench.runs}: coursehub {ours[-1]:.2f} s, plain {plain[-1]:.2f} s")
    result = []
    for pct in (50, 95):
        mine, base = percentile(ours, pct), percentile(plain, pct)
        ratio = mine / base
        result.append(Row(
            name=f"LTI launch -> ready server p{pct} (N={bench.runs})",
            value=f"{mine:.2f} s ({ratio:.2f}x)",
            baseline=f"{base:.2f} s plain DockerSpawner",
            goal=f"<= {GOAL_RATIO:.2f}x plain",
            verdict=verdict(ratio <= GOAL_RATIO),
        ))
    return result
