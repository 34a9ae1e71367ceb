"""Integration fixtures. The stack under test and its helpers live in tests/harness.py and the
session `stack` fixture in tests/conftest.py (shared with tests/e2e); the names below are
re-exported so that `from conftest import lti11_login, unique, wait_until` keeps working."""

from __future__ import annotations

import pytest

from harness import (  # noqa: F401 - re-exported for the test modules
    PORT, ROOT, STACK, WORK, Stack, consumer, lti11_login, prepare_files, read_env, stack_env, unique,
    wait_until,
)


@pytest.fixture
def launched_student(stack):
    """A fresh student who launched a fresh course through LTI 1.1 (logged in, not spawned)."""
    user, label = unique("stu"), unique("c")
    session, response = lti11_login(stack, user=user, role="student", course=label)
    assert response.status_code == 302, response.text[:500]
    course = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    name = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    return {"user": name, "course": course, "session": session}
