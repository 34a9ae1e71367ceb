"""The course page for a course's instructors and TAs (``/hub/coursehub/course/{course}``):
its grades tab (send them to the LMS), its roster tab (sync it from the LMS) and the course's
options. Only members of
``formgrade-{course}`` (and hub admins) may open it or act; everyone else gets 403.

Server-rendered with JupyterHub's own page template (templates/coursehub-course.html); every
tab also answers ``?format=json`` with the same data, for scripts and tests.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from urllib.parse import urlencode

from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join

from ..core.courses import instructor_group
from ..core.logline import logline
from ..grading.gradebook import GradebookUnavailable, feedback_counts, hub_gradebook_url, read_grades_sync
from ..grading.nrps import RosterError, sync_roster
from ..grading.passback import GradesError, send_grades
from ..lti.checks import Refusal
from ..storage import runtime
from ..grading.report import assignment_rows, student_rows


class CourseHandler(BaseHandler):
    """What every tab shares: who may see the course, and the course's row."""

    def initialize(self, coursehub_settings):
        self.coursehub_settings = coursehub_settings

    async def staff_only(self, course: str):
        user = self.current_user
        if user is None:
            raise Refusal(403, "not_logged_in", "Open the course from your LMS first.")
        store = runtime.store(self.coursehub_settings)
        row = await store.get_course(course)
        if row is None:
            raise Refusal(404, "unknown_course", f"There is no course {course!r} on this hub.")
        if not (user.admin or instructor_group(course) in {g.name for g in user.orm_user.groups}):
            self.log.warning(logline("refused", kind="course_page", user=user.name, course=course,
                                     reason="not_staff", ip=self.request.remote_ip))
            raise Refusal(403, "not_staff", "Only the course's instructors and teaching assistants can open this page.")
        return user, row

    def page_url(self, course: str, tab: str = "grades", **query) -> str:
        url = url_path_join(self.hub.base_url, "coursehub/course", course, tab)
        return f"{url}?{urlencode(query)}" if query else url


class GradesHandler(CourseHandler):
    """``GET /hub/coursehub/course/{course}[/grades][?assignment=...]``."""

    async def get(self, course: str, tab: str = "grades"):
        user, row = await self.staff_only(course)
        settings = self.coursehub_settings
        store = runtime.store(settings)
        problem = ""
        try:
            url = await asyncio.to_thread(hub_gradebook_url, settings, course)
            maxima, scores, students = await asyncio.to_thread(read_grades_sync, url)
        except GradebookUnavailable as error:
            maxima, scores, students, problem = {}, {}, [], str(error)
        sends = await asyncio.to_thread(store.last_sends_sync, course)
        feedback = await asyncio.to_thread(feedback_counts, settings, course, maxima)
        members = await asyncio.to_thread(store.members_sync, course)
        names = {m.username: " ".join(p for p in (m.given_name, m.family_name) if p) for m in members}
        assignments = assignment_rows(maxima, scores, feedback, sends)
        chosen = self.get_argument("assignment", "") or (assignments[0].name if assignments else "")
        students_view = student_rows(chosen, students, scores.get(chosen, {}), names, sends) if chosen else []
        auto = await asyncio.to_thread(store.send_on_feedback_sync, course)
        data = {
            "course": course, "title": row.title or row.label, "problem": problem,
            "assignments": [asdict(a) for a in assignments], "assignment": chosen,
            "students": [asdict(s) for s in students_view],
            "send_on_feedback": settings.grades_send_on_feedback if auto is None else auto,
        }
        if self.get_argument("format", "") == "json":
            self.set_header("Content-Type", "application/json")
            return self.finish(json.dumps(data))
        report = {k: self.get_argument(k, "") for k in ("sent", "failed", "impossible", "skipped", "ms", "error")}
        self.finish(await self.render_template(
            "coursehub-course.html", tab="grades", data=data, report=report,
            page_url=lambda tab, **q: self.page_url(course, tab, **q),
        ))


class SendGradesHandler(CourseHandler):
    """``POST /hub/coursehub/course/{course}/grades/{assignment}/send``."""

    async def post(self, course: str, assignment: str):
        user, _ = await self.staff_only(course)
        service = getattr(self.authenticator, "service_client", None)
        try:
            report = await send_grades(self.coursehub_settings, course, assignment, service)
        except GradesError as error:
            return self.redirect(self.page_url(course, "grades", assignment=assignment, error=str(error)[:300]))
        self.log.info(logline("grades", action="sent_by", user=user.name, course=course, assignment=assignment))
        self.redirect(self.page_url(course, "grades", assignment=assignment, sent=report.count("sent"),
                                    failed=report.count("failed"), impossible=report.count("impossible"),
                                    skipped=report.count("skip"), ms=report.duration_ms))


class CourseOptionsHandler(CourseHandler):
    """``POST /hub/coursehub/course/{course}/options``: send grades when feedback is released."""

    async def post(self, course: str):
        await self.staff_only(course)
        value = self.get_body_argument("send_on_feedback", "") == "on"
        await asyncio.to_thread(runtime.store(self.coursehub_settings).set_send_on_feedback_sync, course, value)
        self.redirect(self.page_url(course, "grades"))


class RosterHandler(CourseHandler):
    """``GET /hub/coursehub/course/{course}/roster``: the members the LMS and launches told of,
    who has launched, and the last roster sync."""

    async def get(self, course: str):
        _, row = await self.staff_only(course)
        store = runtime.store(self.coursehub_settings)
        members = await asyncio.to_thread(store.members_sync, course)
        last = await asyncio.to_thread(store.last_roster_sync_sync, course)
        data = {
            "course": course, "title": row.title or row.label,
            "members": [{
                "username": m.username, "name": " ".join(p for p in (m.given_name, m.family_name) if p),
                "email": m.email, "role": m.role, "status": m.status, "lms_user_id": m.lms_user_id,
                "launched": m.last_launch.strftime("%Y-%m-%d %H:%M UTC") if m.last_launch else "",
            } for m in members],
            "last_sync": {"at": last["at"].strftime("%Y-%m-%d %H:%M UTC"), "status": last["status"],
                          "detail": last["detail"]} if last else None,
        }
        if self.get_argument("format", "") == "json":
            self.set_header("Content-Type", "application/json")
            return self.finish(json.dumps(data))
        self.finish(await self.render_template(
            "coursehub-roster.html", tab="roster", data=data,
            page_url=lambda tab, **q: self.page_url(course, tab, **q),
        ))


class RosterSyncHandler(CourseHandler):
    """``POST /hub/coursehub/course/{course}/roster/sync``: read the LMS's roster now."""

    async def post(self, course: str):
        await self.staff_only(course)
        try:
            await sync_roster(self.coursehub_settings, course, getattr(self.authenticator, "service_client", None))
        except RosterError:
            pass  # recorded: the roster tab shows the failure and the LMS's answer
        self.redirect(self.page_url(course, "roster"))


class CoursesHandler(BaseHandler):
    """``GET /hub/coursehub/courses``: the courses of the user (by their course groups), with
    their server and, for teaching staff, the course page and formgrader."""

    def initialize(self, coursehub_settings):
        self.coursehub_settings = coursehub_settings

    async def get(self):
        user = self.current_user
        if user is None:
            raise Refusal(403, "not_logged_in", "Open coursehub from a course in your LMS.")
        store = runtime.store(self.coursehub_settings)
        roles = {}
        for group in user.orm_user.groups:
            kind, _, course = group.name.partition("-")
            if kind == "formgrade":
                roles[course] = "teaching staff"
            elif kind == "nbgrader":
                roles.setdefault(course, "student")
        rows = await asyncio.gather(*(store.get_course(course) for course in sorted(roles)))
        courses = [{"course": r.course_id, "title": r.title or r.label, "role": roles[r.course_id]}
                   for r in rows if r is not None]
        self.finish(await self.render_template("coursehub-courses.html", courses=courses))
