"""Sends an assignment's grades from the course's nbgrader gradebook to the LMS: LTI 1.3 AGS
for students who came through LTI 1.3, LTI 1.1 Basic Outcomes for the others.

One send per student, each recorded with the LMS's answer (the course page and `coursehub
grades status` show the latest); a student whose score has not changed since their last
successful send is not sent again, so a resend changes nothing and a failed send is retried
by sending again. The decisions are core/grades.py; the calls lti/services.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..core.devplatform import DEV_ISSUER, dev_platform
from ..core.grades import (
    AGS_SCOPES, Decision, decide, lineitem_body, outcome_request, resource_id, score_body,
)
from ..core.logline import duration_ms, logline
from ..core.settings import LTI13Platform, Settings
from ..lti.lmshttp import LMSError
from ..lti.services import ServiceClient, replace_result
from ..storage import runtime
from .gradebook import GradebookUnavailable, hub_gradebook_url, read_grades_sync

log = logging.getLogger("JupyterHub").getChild("coursehub.grades")

# Sends in flight at once per course: enough for a class in seconds, gentle on the LMS.
CONCURRENCY = 8


class GradesError(RuntimeError):
    """Grades of an assignment cannot be sent at all; ``str()`` says why, for a person."""


@dataclass
class SendReport:
    course: str
    assignment: str
    results: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: int = 0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r["status"] == status)


def platform_for(settings: Settings, issuer: str, client_id: str) -> LTI13Platform | None:
    """The registration a course's launches came through (the dev platform when it is on)."""
    if issuer == DEV_ISSUER and settings.dev_platform:
        return dev_platform()
    for entry in runtime.store(settings).platforms_for_issuer_sync(issuer):
        if entry.platform.client_id == client_id and entry.enabled:
            return entry.platform
    return None


def _scopes(link: Any) -> tuple[str, ...]:
    """The AGS scopes to ask for: ours, as far as the launch's claim granted them."""
    granted = set((link.ags_scopes or "").split())
    return tuple(s for s in AGS_SCOPES if not granted or s in granted)


async def _lineitem(settings: Settings, service: ServiceClient, course: str, assignment: str,
                    maximum: float) -> tuple[str, LTI13Platform, tuple[str, ...]]:
    """The line item of ``assignment``: the one bound to its link (deep linking or the
    platform), else coursehub's own found by resourceId, else a new one."""
    store = runtime.store(settings)
    links = [r for r in await asyncio.to_thread(store.links_sync, course) if r.version == "1.3" and r.lineitems_url]
    if not links:
        raise GradesError("no LTI 1.3 launch of this course carried the grades service (AGS): the LMS "
                          "does not offer it to coursehub, or nobody launched since it does")
    own = [r for r in links if r.assignment == assignment]
    link = own[0] if own else links[0]
    platform = await asyncio.to_thread(platform_for, settings, link.platform, link.client_id)
    if platform is None:
        raise GradesError(f"the platform {link.platform} (client {link.client_id}) is not registered any more")
    scopes = _scopes(link)
    bound = next((r.lineitem_url for r in own if r.lineitem_url), "")
    if bound:
        return bound, platform, scopes
    cached = await asyncio.to_thread(store.lineitem_sync, course, assignment, link.platform, link.client_id)
    if cached:
        return cached, platform, scopes
    wanted = resource_id(course, assignment)
    items = await service.lineitems(platform, scopes, link.lineitems_url, resource_id=wanted)
    found = next((i["id"] for i in items if i.get("resourceId") == wanted and i.get("id")), "")
    if not found:
        created = await service.create_lineitem(platform, scopes, link.lineitems_url, lineitem_body(
            course, assignment, maximum, own[0].resource_link_id if own else ""))
        found = created["id"]
    await asyncio.to_thread(store.keep_lineitem_sync, course, assignment, link.platform, link.client_id, found)
    return found, platform, scopes


async def _send_one(settings: Settings, service: ServiceClient | None, decision: Decision,
                    target: tuple[str, LTI13Platform, tuple[str, ...]] | None,
                    target_error: str) -> dict[str, Any]:
    member = decision.member
    row = {"username": decision.student, "version": member.version, "score_given": decision.score,
           "score_maximum": decision.maximum}
    try:
        if member.version == "1.3":
            if target is None:
                raise LMSError(0, target_error)
            url, platform, scopes = target
            row["target"] = url
            status = await service.post_score(platform, scopes, url, score_body(
                member.lms_user_id, decision.score, decision.maximum))
            detail = f"accepted ({status})"
        else:
            secret = settings.lti11_consumers.get(member.consumer_key, "")
            if not secret:
                raise LMSError(0, f"the consumer key {member.consumer_key!r} is no longer configured")
            row["target"] = member.outcome_url
            body = outcome_request(member.sourcedid, decision.score / decision.maximum, uuid.uuid4().hex)
            detail = await replace_result(member.outcome_url, body, member.consumer_key, secret)
        return {**row, "status": "sent", "detail": detail}
    except LMSError as error:
        return {**row, "status": "failed", "detail": str(error)}


async def send_grades(settings: Settings, course: str, assignment: str,
                      service: ServiceClient | None, concurrency: int = CONCURRENCY) -> SendReport:
    """Sends ``assignment`` of ``course`` for every student; raises GradesError when nothing
    can be sent (no gradebook, unknown assignment)."""
    started = time.perf_counter()
    store = runtime.store(settings)
    try:
        url = await asyncio.to_thread(hub_gradebook_url, settings, course)
        maxima, scores, students = await asyncio.to_thread(read_grades_sync, url)
    except GradebookUnavailable as error:
        raise GradesError(f"{course}: {error}") from None
    if assignment not in maxima:
        raise GradesError(f"{course} has no assignment {assignment!r} in its gradebook "
                          f"(it has: {', '.join(sorted(maxima)) or 'none'})")
    maximum = maxima[assignment]
    members = await asyncio.to_thread(store.grade_members_sync, course, assignment)
    last = await asyncio.to_thread(store.last_successes_sync, course, assignment)
    names = sorted(set(students) | set(scores[assignment]) | set(members))
    decisions = [decide(scores[assignment].get(n), members.get(n), maximum, last.get(n)) for n in names]
    report = SendReport(course, assignment)
    target, target_error = None, ""
    if any(d.action == "send" and d.member.version == "1.3" for d in decisions):
        if service is None:
            target_error = "the tool has no LTI 1.3 key (run make secrets)"
        else:
            try:
                target = await _lineitem(settings, service, course, assignment, maximum)
            except (GradesError, LMSError) as error:
                target_error = f"no line item for {assignment}: {error}"
    gate = asyncio.Semaphore(max(1, concurrency))

    async def run(decision: Decision) -> dict[str, Any]:
        if decision.action != "send":
            return {"username": decision.student, "status": decision.action, "detail": decision.reason,
                    "score_given": decision.score if decision.action == "skip" and decision.member else None,
                    "score_maximum": maximum}
        async with gate:
            return await _send_one(settings, service, decision, target, target_error)

    results = await asyncio.gather(*(run(d) for d in decisions))
    recorded = [{**r, "course_id": course, "assignment": assignment} for r in results if r["status"] != "skip"]
    await asyncio.to_thread(store.record_sends_sync, recorded)
    report.results = list(results)
    report.duration_ms = duration_ms(started, time.perf_counter())
    log.info(logline("grades", action="send", course=course, assignment=assignment,
                     sent=report.count("sent"), failed=report.count("failed"),
                     impossible=report.count("impossible"), skipped=report.count("skip"),
                     duration_ms=report.duration_ms))
    return report
