"""`coursehub roster sync COURSE`: the LMS's roster (NRPS) into the course now (make roster-sync)."""

from __future__ import annotations

import asyncio
import os
import sys

from ..grading.nrps import RosterError, sync_roster
from ..lti.services import ServiceClient
from ..lti.toolkeys import SigningKey
from .common import settings_or_exit


def sync_cli(args) -> int:
    settings = settings_or_exit()
    key = settings.lti13_key_file
    service = ServiceClient(SigningKey.from_file(key)) if os.path.exists(key) else None
    try:
        report = asyncio.run(sync_roster(settings, args.course, service))
    except RosterError as error:
        print(f"coursehub roster sync: {args.course}: {error}", file=sys.stderr)
        return 1
    print(f"{args.course}: {report.members} members ({report.learners} learners) in {report.pages} page(s), "
          f"{report.left} left, {report.skipped} not mappable, {report.duration_ms} ms")
    return 0


def add_cli_parsers(sub) -> None:
    roster = sub.add_parser("roster", help="the course's roster from the LMS").add_subparsers(
        dest="roster_cmd", required=True)
    sync = roster.add_parser("sync", help="read the LMS's roster (NRPS) into the course now")
    sync.add_argument("course")
    sync.set_defaults(func=sync_cli)
