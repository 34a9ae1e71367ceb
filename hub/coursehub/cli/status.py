"""`coursehub status`: what runs for whom - courses, their graders, and running course servers -
gathered from the hub database, Docker and the hub REST API, and printed as one short report."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import select

from ..core.settings import HUB_API_INSIDE_HUB, Settings
from ..storage import runtime
from ..storage.schema import courses
from .common import settings_or_exit


@dataclass(frozen=True)
class Server:
    user: str
    course: str
    ready: bool
    last_activity: str


def running_servers(users: Iterable[Mapping[str, Any]]) -> list[Server]:
    """Servers out of the hub's `GET /users?state=active` models, sorted by course and user."""
    found = []
    for user in users:
        for name, server in (user.get("servers") or {}).items():
            found.append(Server(user["name"], name or "(default)", bool(server.get("ready")),
                                server.get("last_activity") or "-"))
    return sorted(found, key=lambda s: (s.course, s.user))


def render_status(courses: Mapping[str, str], graders: Mapping[str, str],
                  servers: list[Server]) -> str:
    """The report: one line per course (grader state, servers running), then every server.

    ``courses`` maps course id -> title, ``graders`` course id -> container state.
    """
    per_course = Counter(s.course for s in servers)
    lines = [f"courses: {len(courses)}"]
    for course in sorted(courses):
        lines.append(
            f"  {course:<30} grader={graders.get(course, 'none'):<10} "
            f"servers={per_course.get(course, 0):<4} {courses[course]}"
        )
    for course in sorted(set(graders) - set(courses)):
        lines.append(f"  {course:<30} grader={graders[course]:<10} (not in the course registry)")
    ready = sum(s.ready for s in servers)
    lines.append(f"servers: {len(servers)} ({ready} ready, {len(servers) - ready} starting or stopping)")
    for server in servers:
        state = "ready" if server.ready else "pending"
        lines.append(f"  {server.user:<34} {server.course:<30} {state:<8} last activity {server.last_activity}")
    return "\n".join(lines)


def _courses(settings: Settings) -> dict[str, str]:
    store = runtime.store(settings)
    store.create_tables()
    with store.engine.connect() as conn:
        return {row.course_id: row.title or row.label
                for row in conn.execute(select(courses.c.course_id, courses.c.title, courses.c.label))}


def _graders(settings: Settings) -> dict[str, str]:
    containers = runtime.docker_client().containers.list(all=True, filters={
        "label": ["coursehub.grader", f"coursehub.stack={settings.stack}"],
    })
    return {c.labels["coursehub.grader"]: c.status for c in containers}


def _active_users(settings: Settings, api_url: str) -> list[dict]:
    users, offset = [], 0
    while True:
        request = urllib.request.Request(
            f"{api_url}/users?state=active&limit=200&offset={offset}",
            headers={"Authorization": f"token {settings.api_token}",
                     "Accept": "application/jupyterhub-pagination+json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            page = json.load(response)
        items = page["items"] if isinstance(page, dict) else page
        users.extend(items)
        following = (page.get("_pagination") or {}).get("next") if isinstance(page, dict) else None
        if not following:
            return users
        offset = following["offset"]


def status_cli(args) -> int:
    settings = settings_or_exit()
    problems = []
    try:
        courses = _courses(settings)
    except Exception as error:  # noqa: BLE001 - report every source that failed, then go on
        courses, problems = {}, problems + [f"database: {error}"]
    try:
        graders = _graders(settings)
    except Exception as error:  # noqa: BLE001
        graders, problems = {}, problems + [f"docker: {error}"]
    try:
        servers = running_servers(_active_users(settings, args.api_url))
    except Exception as error:  # noqa: BLE001
        servers, problems = [], problems + [f"hub API {args.api_url}: {error}"]
    print(render_status(courses, graders, servers))
    for problem in problems:
        print(f"unavailable: {problem}")
    return 1 if problems else 0


def add_cli_parser(sub) -> None:
    parser = sub.add_parser("status", help="courses, their graders and running course servers")
    parser.add_argument("--api-url", default=HUB_API_INSIDE_HUB, help="hub API (default: inside the hub)")
    parser.set_defaults(func=status_cli)
