"""The LMS's roster into the course: LTI NRPS 2.0 memberships, paged, mapped to hub usernames
(core/roster.py), upserted into nbgrader's gradebook (learners) and coursehub's members (all,
with who left), each sync recorded with its result for the course page.

Runs on `coursehub roster sync`, the course page's button, and in the background after a staff
launch that carries the NRPS claim, at most once per ``roster.sync_minutes``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..core.grades import next_page
from ..core.logline import duration_ms, logline
from ..core.roster import MEMBERSHIPS_TYPE, NRPS_SCOPE, roster
from ..core.settings import Settings
from ..lti.lmshttp import LMSError
from ..lti.services import MAX_PAGES, ServiceClient
from ..storage import runtime
from .gradebook import hub_gradebook_url, upsert_students_sync
from .passback import platform_for

log = logging.getLogger("JupyterHub").getChild("coursehub.roster")


class RosterError(RuntimeError):
    """The roster cannot be read; ``str()`` says why, for a person."""


@dataclass
class SyncReport:
    course: str
    members: int = 0
    learners: int = 0
    skipped: int = 0
    left: int = 0
    pages: int = 0
    duration_ms: int = 0
    in_gradebook: bool = False


async def fetch_members(service: ServiceClient, platform, url: str) -> tuple[list[dict], int]:
    """Every member of a context, following rel=next; (members, pages)."""
    members, pages, page = [], 0, url
    while page and pages < MAX_PAGES:
        answer = await service.authorized("GET", page, "The LMS's roster (NRPS)", platform, (NRPS_SCOPE,),
                                          headers={"Accept": MEMBERSHIPS_TYPE})
        body = answer.json("The LMS's roster (NRPS)")
        members += [m for m in (body.get("members") or []) if isinstance(m, dict)] if isinstance(body, dict) else []
        pages += 1
        page = next_page(answer.headers.get("Link", ""))
    if page:
        raise LMSError(0, f"The LMS's roster did not end after {MAX_PAGES} pages")
    return members, pages


async def sync_roster(settings: Settings, course: str, service: ServiceClient | None) -> SyncReport:
    started = time.perf_counter()
    store = runtime.store(settings)
    report = SyncReport(course)
    try:
        if service is None:
            raise RosterError("the tool has no LTI 1.3 key (run make secrets)")
        links = [r for r in await asyncio.to_thread(store.links_sync, course) if r.memberships_url]
        if not links:
            raise RosterError("no LTI 1.3 launch of this course carried the roster service (NRPS): the "
                              "LMS does not offer it to coursehub, or no instructor launched since it does")
        link = links[0]
        platform = await asyncio.to_thread(platform_for, settings, link.platform, link.client_id)
        if platform is None:
            raise RosterError(f"the platform {link.platform} is not registered any more")
        try:
            raw, report.pages = await fetch_members(service, platform, link.memberships_url)
        except LMSError as error:
            raise RosterError(str(error)) from None
        members, report.skipped = roster(raw, link.platform, settings.lti13_username_key)
        report.members = len(members)
        report.left = await asyncio.to_thread(store.apply_roster_sync, course, link.platform, members)
        learners = [m for m in members if m.role == "student"]
        report.learners = len(learners)
        url = await asyncio.to_thread(hub_gradebook_url, settings, course)
        report.in_gradebook = await asyncio.to_thread(upsert_students_sync, url, [
            {"id": m.username, "first_name": m.given_name, "last_name": m.family_name, "email": m.email,
             "lms_user_id": m.lms_user_id} for m in learners])
    except RosterError as error:
        report.duration_ms = duration_ms(started, time.perf_counter())
        await asyncio.to_thread(store.record_roster_sync_sync, course, "failed", 0, str(error))
        log.warning(logline("roster", action="sync_failed", course=course, error=str(error)))
        raise
    report.duration_ms = duration_ms(started, time.perf_counter())
    detail = (f"{report.members} members ({report.learners} learners) in {report.pages} page(s); "
              f"{report.left} left; {report.skipped} not mappable"
              + ("" if report.in_gradebook else "; the gradebook has no schema yet, so learners follow at the next sync"))
    await asyncio.to_thread(store.record_roster_sync_sync, course, "ok", report.members, detail)
    log.info(logline("roster", action="synced", course=course, members=report.members, learners=report.learners,
                     left=report.left, pages=report.pages, duration_ms=report.duration_ms))
    return report


def sync_due(last: dict | None, minutes: int, now: datetime | None = None) -> bool:
    """Whether a staff launch should sync the roster again (at most every ``minutes``)."""
    if last is None:
        return True
    at = last["at"] if last["at"].tzinfo else last["at"].replace(tzinfo=timezone.utc)
    return (now or datetime.now(timezone.utc)) - at >= timedelta(minutes=minutes)


_running: set[str] = set()


async def sync_if_due(settings: Settings, course: str, service: ServiceClient | None) -> None:
    """The background sync after a staff launch: skipped when one ran within
    ``roster.sync_minutes`` or one is running; its failure is recorded, never raised."""
    if course in _running:
        return
    _running.add(course)
    try:
        last = await asyncio.to_thread(runtime.store(settings).last_roster_sync_sync, course)
        if sync_due(last, settings.roster_sync_minutes):
            await sync_roster(settings, course, service)
    except RosterError:
        pass  # recorded and logged by sync_roster
    except Exception:  # noqa: BLE001 - a background task must log, not vanish
        log.exception(logline("roster", action="sync_crashed", course=course))
    finally:
        _running.discard(course)
