"""Integration fixtures. The stack under test and its helpers live in tests/harness.py (test
modules import it by name) and the session `stack` fixture in tests/conftest.py (shared with
tests/e2e)."""

from __future__ import annotations

import pytest

from harness import lti11_login, unique


@pytest.fixture
def launched_student(stack):
    """A fresh student who launched a fresh course through LTI 1.1 (logged in, not spawned)."""
    user, label = unique("stu"), unique("c")
    session, response = lti11_login(stack, user=user, role="student", course=label)
    assert response.status_code == 302, response.text[:500]
    course = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    name = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    return {"user": name, "course": course, "session": session}
