"""`coursehub course add` and `coursehub graders start`: courses without an LMS launch, and the
graders brought back before the hub starts (the hub image's start command)."""

from __future__ import annotations

import urllib.error
import urllib.request

from ..core.settings import HUB_API_INSIDE_HUB
from ..grading.provision import start_all_sync
from ..storage import runtime
from ..storage.registry import CourseBusy
from .common import settings_or_exit


def graders_start_cli(args) -> int:
    """One line per course; exit 0 even when some failed, so that the hub still starts (a
    failed grader only delays it)."""
    results = start_all_sync(settings_or_exit())
    for course, action in sorted(results.items()):
        print(f"grader {course}: {action}")
    if not results:
        print("no courses yet")
    return 0


def add_course_cli(args) -> int:
    """Registers a course (as an LMS launch would) and asks the running hub to provision it."""
    settings = settings_or_exit()
    try:
        row, _ = runtime.store(settings).register_course_sync(
            args.platform or "cli", args.context_id or args.label, args.label,
            args.title or args.label, settings.course_id_source,
        )
    except CourseBusy as error:
        print(f"coursehub course add: {error}; try again")
        return 1
    request = urllib.request.Request(
        f"{HUB_API_INSIDE_HUB.rsplit('/api', 1)[0]}/coursehub/api/courses/{row.course_id}",
        method="POST", data=b"{}",
        headers={"Authorization": f"token {settings.api_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            print(response.read().decode())
    except urllib.error.URLError as error:
        print(f"course {row.course_id} registered, but the hub did not provision it: {error}")
        return 1
    return 0


def add_cli_parsers(sub) -> None:
    """Adds `course add` and `graders start` to the coursehub argument parser."""
    course = sub.add_parser("course", help="manage courses").add_subparsers(dest="course_cmd", required=True)
    add = course.add_parser("add", help="register and provision a course without an LMS launch")
    add.add_argument("label", help="course label (short name); the course id is derived from it")
    add.add_argument("--context-id", default="", help="the LMS course id (default: the label)")
    add.add_argument("--platform", default="", help="LTI 1.1 consumer key or LTI 1.3 issuer (default: cli)")
    add.add_argument("--title", default="")
    add.set_defaults(func=add_course_cli)
    graders = sub.add_parser("graders", help="per-course grader containers").add_subparsers(
        dest="graders_cmd", required=True)
    start = graders.add_parser("start", help="start every course's grader (before the hub)")
    start.set_defaults(func=graders_start_cli)
