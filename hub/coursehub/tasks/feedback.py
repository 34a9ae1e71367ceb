"""Sends grades by themselves once feedback is generated, for the courses that want it
(``grades.send_on_feedback``, or the course page's choice).

Every ``INTERVAL`` seconds each such course's assignments with feedback are sent with
grading/passback.py, which sends only what changed since the last successful send: an
unchanged class costs one gradebook read per course and no LMS call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..core.logline import logline
from ..grading.gradebook import GradebookUnavailable, feedback_counts, hub_gradebook_url, read_grades_sync
from ..grading.passback import GradesError, send_grades
from ..storage import runtime

log = logging.getLogger("JupyterHub").getChild("coursehub.grades")

INTERVAL = 60.0


def courses_to_send(settings) -> list[str]:
    store = runtime.store(settings)
    wanted = []
    for row in store.all_courses_sync():
        choice = store.send_on_feedback_sync(row.course_id)
        if settings.grades_send_on_feedback if choice is None else choice:
            wanted.append(row.course_id)
    return wanted


async def send_released(app: Any) -> int:
    """One pass over the courses; returns how many grades were sent."""
    auth = app.authenticator
    settings = auth.settings
    sent = 0
    for course in await asyncio.to_thread(courses_to_send, settings):
        try:
            url = await asyncio.to_thread(hub_gradebook_url, settings, course)
            maxima, _, _ = await asyncio.to_thread(read_grades_sync, url)
        except GradebookUnavailable:
            continue
        counts = await asyncio.to_thread(feedback_counts, settings, course, maxima)
        for assignment in [a for a, n in counts.items() if n]:
            try:
                report = await send_grades(settings, course, assignment, getattr(auth, "service_client", None))
            except GradesError as error:
                log.warning(logline("grades", action="auto_send_failed", course=course, assignment=assignment,
                                    error=str(error)))
                continue
            sent += report.count("sent")
    return sent


async def watch_feedback(app: Any, interval: float = INTERVAL) -> None:
    started = getattr(app, "_start_future", None)
    if started is not None:
        await started
    while True:
        await asyncio.sleep(interval)
        try:
            await send_released(app)
        except Exception as error:  # noqa: BLE001 - a bad pass must not end the task
            log.warning(logline("grades", action="auto_send_error", error=str(error)[:300]))
