"""Memory of an idle student server (docker stats after 20 s idle), coursehub vs plain."""

from __future__ import annotations

import time

from .launch import coursehub_launch, stop_coursehub
from .stack import Bench, harness, progress
from .table import Row, verdict

IDLE_SECONDS = 20
GOAL_MIB = 120


def used_mib(container) -> float:
    """What `docker stats` shows: usage minus the inactive page cache (cgroup v2 or v1)."""
    stats = container.stats(stream=False)["memory_stats"]
    detail = stats.get("stats", {})
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return (stats["usage"] - cache) / 1024**2


def rows(bench: Bench) -> list[Row]:
    _, name, course = coursehub_launch(bench, harness.unique("idle"))
    plain_user = harness.unique("plainidle")
    bench.plain.launch_seconds(plain_user)
    progress(f"both servers idle for {IDLE_SECONDS} s")
    time.sleep(IDLE_SECONDS)
    mine = used_mib(bench.stack.container_of(name, course))
    plain_container = bench.plain.container(plain_user)
    base = used_mib(plain_container) if plain_container else float("nan")
    stop_coursehub(bench, name, course)
    bench.plain.stop_server(plain_user)
    return [Row(
        name=f"idle student server memory ({IDLE_SECONDS} s idle)",
        value=f"{mine:.0f} MiB",
        baseline=f"{base:.0f} MiB plain DockerSpawner",
        goal=f"<= {GOAL_MIB} MiB",
        verdict=verdict(mine <= GOAL_MIB),
    )]
