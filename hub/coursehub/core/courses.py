"""Derives stable, safe names from LMS data: course ids, hub usernames, grader and group names.

A course id is used as a JupyterHub named-server name, a service name (nbgrader's course list
finds the formgrader by service name == course id) and inside group names, so it must satisfy
JupyterHub 6's safe-slug rule: 1-30 characters of ``[a-z0-9-]``, starting with a letter,
ending with a letter or digit, no ``--``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Mapping

COURSE_ID_MAX = 30
USERNAME_READABLE_MAX = 20
_HASH_LEN = 6
# Bounds the collision search; reaching it means the registry is corrupt, not that it is full.
_MAX_ATTEMPTS = 1000


def _short_hash(text: str, length: int = _HASH_LEN) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _ascii(text: str) -> str:
    """NFKD splits accents (and full-width forms) off their base letters; the rest is dropped."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _fit(slug: str, limit: int) -> str:
    return slug[:limit].rstrip("-")


def course_slug(text: str) -> str:
    """A safe-slug form of ``text``, or "" when nothing ASCII survives (e.g. a Japanese title)."""
    slug = re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")
    if not slug:
        return ""
    if not slug[0].isalpha():
        slug = f"c-{slug}"
    return _fit(slug, COURSE_ID_MAX)


def context_key(platform: str, context_id: str) -> str:
    """The identity of an LMS course: context ids are only unique within one platform."""
    return f"{platform}|{context_id}"


def _candidate(key: str, context_id: str, label: str, title: str, id_source: str) -> str:
    sources = (context_id,) if id_source == "id" else (label, title)
    for source in sources:
        slug = course_slug(source or "")
        if slug:
            return slug
    return f"course-{_short_hash(key, 8)}"


def resolve_course_id(
    platform: str,
    context_id: str,
    label: str,
    title: str,
    registry: Mapping[str, str],
    id_source: str = "label",
) -> str:
    """The course id of an LMS context; ``registry`` maps each existing course id to its context key.

    A known context keeps its id even if its label changed since (ids name directories,
    services and groups, so they must never move). A new context gets its slug when free,
    else the slug shortened plus a hash of its key, re-hashed until free.
    """
    key = context_key(platform, context_id)
    known = sorted(course for course, owner in registry.items() if owner == key)
    if known:
        return known[0]
    candidate = _candidate(key, context_id, label, title, id_source)
    if candidate not in registry:
        return candidate
    base = _fit(candidate, COURSE_ID_MAX - 1 - _HASH_LEN)
    for attempt in range(_MAX_ATTEMPTS):
        salted = key if attempt == 0 else f"{key}#{attempt}"
        course = f"{base}-{_short_hash(salted)}"
        if course not in registry:
            return course
    raise RuntimeError(f"no free course id for {key!r} after {_MAX_ATTEMPTS} attempts")


def _readable_user(raw: str) -> str:
    local = raw.strip().split("@", 1)[0] if "@" in raw else raw.strip()
    text = _ascii(local).lower()
    # A single '.' or '_' stays (a.b, first_last); any other run becomes one '-', which also
    # rules out '..' so the name is always a safe path component.
    text = re.sub(r"[^a-z0-9]+", lambda m: m.group() if m.group() in (".", "_") else "-", text)
    text = text.strip("._-")[:USERNAME_READABLE_MAX].rstrip("._-")
    return text or "user"


def hub_username(raw: str, platform: str) -> str:
    """A stable JupyterHub username: a readable part plus a hash of ``platform|raw``.

    The hash keeps user "42" of two LMSs (or two consumer keys) apart, and keeps two emails
    with the same local part apart.
    """
    return f"{_readable_user(raw)}-{_short_hash(f'{platform}|{raw}')}"


def grader_name(course: str) -> str:
    """The hub user / service account that runs the course's formgrader."""
    return f"grader-{course}"


def student_group(course: str) -> str:
    """nbgrader's JupyterHubAuthPlugin reads course membership of students from this group."""
    return f"nbgrader-{course}"


def instructor_group(course: str) -> str:
    """nbgrader's JupyterHubAuthPlugin reads instructors and TAs from this group."""
    return f"formgrade-{course}"
