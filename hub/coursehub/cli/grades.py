"""`coursehub grades send COURSE ASSIGNMENT` and `coursehub grades status COURSE`: the course
page's grades tab for the admin's shell (make grades-send, make grades)."""

from __future__ import annotations

import asyncio
import os
import sys

from ..grading.gradebook import GradebookUnavailable, feedback_counts, hub_gradebook_url, read_grades_sync
from ..grading.passback import CONCURRENCY, GradesError, send_grades
from ..lti.services import ServiceClient
from ..lti.toolkeys import SigningKey
from ..storage import runtime
from ..grading.report import assignment_rows, student_rows
from .common import settings_or_exit


def send_cli(args) -> int:
    settings = settings_or_exit()
    key = settings.lti13_key_file
    service = ServiceClient(SigningKey.from_file(key)) if os.path.exists(key) else None
    try:
        report = asyncio.run(send_grades(settings, args.course, args.assignment, service, args.concurrency))
    except GradesError as error:
        print(f"coursehub grades send: {error}", file=sys.stderr)
        return 1
    for row in report.results:
        score = "" if row.get("score_given") is None else f" {row['score_given']:g}/{row['score_maximum']:g}"
        print(f"  {row['username']:<34} {row['status']:<10}{score}  {row.get('detail') or ''}")
    print(f"{args.assignment}: {report.count('sent')} sent, {report.count('failed')} failed, "
          f"{report.count('impossible')} not possible, {report.count('skip')} not sent, {report.duration_ms} ms")
    return 1 if report.count("failed") else 0


def status_cli(args) -> int:
    settings = settings_or_exit()
    store = runtime.store(settings)
    try:
        maxima, scores, students = read_grades_sync(hub_gradebook_url(settings, args.course))
    except GradebookUnavailable as error:
        print(f"coursehub grades status: {args.course}: {error}", file=sys.stderr)
        return 1
    sends = store.last_sends_sync(args.course)
    rows = assignment_rows(maxima, scores, feedback_counts(settings, args.course, maxima), sends)
    print(f"{args.course}: {len(rows)} assignment(s)")
    for a in rows:
        print(f"  {a.name:<20} max {a.max_score:g}  submitted {a.submitted}  graded {a.graded}  "
              f"feedback {a.feedback}  in the LMS {a.sent} (failed {a.failed})")
        for s in student_rows(a.name, students, scores.get(a.name, {}), {}, sends):
            print(f"    {s.student:<34} {s.score:<28} {s.status or '-'} {s.last_score} {s.last_when} {s.detail}")
    return 0


def add_cli_parsers(sub) -> None:
    grades = sub.add_parser("grades", help="grades of a course: status, send to the LMS").add_subparsers(
        dest="grades_cmd", required=True)
    send = grades.add_parser("send", help="send an assignment's grades to the LMS")
    send.add_argument("course")
    send.add_argument("assignment")
    send.add_argument("--concurrency", type=int, default=CONCURRENCY, help="sends in flight at once")
    send.set_defaults(func=send_cli)
    status = grades.add_parser("status", help="each assignment and each student's last send")
    status.add_argument("course")
    status.set_defaults(func=status_cli)
