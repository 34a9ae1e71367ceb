"""``POST /hub/coursehub/api/courses/{course}``: provisions a registered course for the CLI
(``coursehub course add``); scope admin:services, i.e. the coursehub service's token."""

from __future__ import annotations

import json

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from ..grading.provision import ProvisionError, ensure_course
from ..storage import runtime


class ProvisionCourseHandler(APIHandler):
    def initialize(self, coursehub_settings):
        self.coursehub_settings = coursehub_settings

    @needs_scope("admin:services")
    async def post(self, course: str):
        settings = self.coursehub_settings
        if await runtime.store(settings).get_course(course) is None:
            raise web.HTTPError(404, f"unknown course {course}; register it first")
        try:
            record = await ensure_course(course, settings, self)
        except ProvisionError as error:
            raise web.HTTPError(503, f"provisioning {course} failed at {error}") from None
        self.write(json.dumps({
            "course": course,
            "service": f"/services/{course}/",
            "grader_uid": record.grader_uid,
            "course_gid": record.course_gid,
        }))
