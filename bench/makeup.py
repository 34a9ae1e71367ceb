"""`make up` time on a running stack (warm: every image cached, containers up), beside the floor
measured in the same run: compose's own `up -d` of the same project, which is what remains
when our steps (secrets, image checks, settings check, health wait) are taken away.

Cold `make up` (an engine with no coursehub images: debootstrap base, every image built) is not
repeated here: it takes minutes and loads the whole host; measured once on the reference host:
about 8-9 minutes."""

from __future__ import annotations

import time


def rows(bench) -> list[tuple[str, str, str]]:
    """``bench`` is bench.stack.Bench or a harness.Stack."""
    stack = getattr(bench, "stack", bench)
    started = time.monotonic()
    warm = stack.run("scripts/up.sh", check=False, timeout=900)
    warm_seconds = time.monotonic() - started
    started = time.monotonic()
    floor = stack.compose("up", "-d", check=False, timeout=300)
    floor_seconds = time.monotonic() - started
    status = "ok" if warm.returncode == 0 else f"FAILED ({warm.returncode})"
    return [(
        "make up, warm (running stack)",
        f"{warm_seconds:.1f} s {status}",
        f"compose up -d alone: {floor_seconds:.1f} s{'' if floor.returncode == 0 else ' (failed)'}; "
        "cold make up (nothing built): ~8-9 min, measured once",
    )]
