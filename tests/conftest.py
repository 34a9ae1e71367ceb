"""Fixtures shared by tests/integration and tests/e2e: one session-wide `stack` (defined here
once, so both folders in one pytest run share a single stack) and, on any failure of a test
that used a stack (this one or a module's own), its `compose ps` and `compose logs` in the
report. The stack itself: harness.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Stack, StackStartError, start_stack, stop_stack  # noqa: E402


@pytest.fixture(scope="session")
def stack() -> Stack:
    try:
        running = start_stack()
    except StackStartError as error:
        pytest.fail(str(error))
    yield running
    stop_stack(running)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        # Every stack the test used (the session's, or a module's own: Podman, ops).
        for name in item.fixturenames:
            running = item.funcargs.get(name)
            if isinstance(running, Stack):
                report.sections.append((f"compose ps ({running.name})", running.compose("ps", check=False).stdout))
                report.sections.append((f"compose logs ({running.name})", running.logs(tail=120)))
