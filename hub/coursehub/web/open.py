"""``GET /hub/coursehub/open/{course}``: where every LTI launch lands. Plans the launch's server
once, provisions a new course at its first staff launch, restarts a server whose plan changed
since it started (never silently reuses a stale one), then spawns or enters it."""

from __future__ import annotations

import asyncio
import time

from jupyterhub.handlers import BaseHandler
from jupyterhub.utils import url_path_join
from tornado import web

from ..core.launch import NRPS_CLAIM
from ..core.logline import duration_ms, logline
from ..grading.nrps import sync_if_due
from ..grading.provision import ProvisionError, ensure_course
from ..grading.roster import add_student
from ..lti.checks import Refusal
from ..spawners.plans import NoLaunch, launch_for, plan_for
from ..storage import runtime


class OpenCourseHandler(BaseHandler):
    def initialize(self, coursehub_settings):
        self.coursehub_settings = coursehub_settings

    async def remember_services(self, launch) -> None:
        """What the LMS said for calling it back (grades, roster); never fails the launch."""
        try:
            await runtime.store(self.coursehub_settings).record_launch(launch)
        except Exception:  # noqa: BLE001 - a grade slot lost is reported at send time
            self.log.exception(logline("launch", action="record_failed", user=launch.username,
                                       course=launch.course_id))

    async def get(self, course: str):
        started = time.perf_counter()
        user = self.current_user
        fields = {"user": user.name if user else None, "course": course, "role": None}

        def refused(reason: str, status: int, message: str, **extra) -> web.HTTPError:
            self.log.warning(logline(
                "refused", kind="launch", **fields, decision="refused",
                duration_ms=duration_ms(started, time.perf_counter()), reason=reason,
                ip=self.request.remote_ip, message=message, **extra,
            ))
            # The page shows the message; tornado logs no second, unquoted copy of it.
            return Refusal(status, reason, message)

        if user is None:
            raise refused("not_logged_in", 403, "You are not logged in to coursehub: open the course from your LMS.")
        try:
            launch = launch_for(await user.get_auth_state(), course)
        except NoLaunch as error:
            raise refused("no_launch", error.status_code, error.log_message) from None
        fields["role"] = launch.role
        try:
            plan = await plan_for(self.coursehub_settings, launch)
        except web.HTTPError as error:
            raise refused("bad_param", error.status_code, error.log_message) from None
        await self.remember_services(launch)
        if launch.role == "student":
            await add_student(self.coursehub_settings, launch)
        else:
            # The first staff launch of a course provisions it (folders, gradebook, formgrader).
            try:
                await ensure_course(course, self.coursehub_settings, self)
            except ProvisionError as error:
                raise refused(
                    "provisioning_failed", 503,
                    f"The course '{course}' could not be set up: {error.step} failed. Nothing "
                    "was lost - your files, the course's files and the gradebook are as they were. "
                    "Open the course again from the LMS in a minute; if this page comes back, "
                    "tell the hub's admin (the hub's log has a line 'coursehub.refused "
                    f"reason=provisioning_failed course={course}').",
                    step=error.step, error=str(error.cause),
                ) from None
            if NRPS_CLAIM in launch.outcomes:
                # The LMS's roster into the gradebook, in the background: the launch never waits.
                asyncio.ensure_future(sync_if_due(self.coursehub_settings, course,
                                                  getattr(self.authenticator, "service_client", None)))
        # A course's named server exists only after its first spawn (the spawn page makes it).
        spawner = user.spawners[course] if course in user.orm_spawners else None
        if spawner is not None and spawner.ready and await spawner.poll() is not None:
            # The container died (killed, OOM, host reboot) before the hub's own poll noticed:
            # forget it now, so this launch starts a fresh server instead of a dead route.
            await user.stop(course)
        decision = "start"
        if spawner is not None and spawner.active and spawner.plan_fingerprint != plan.fingerprint():
            decision = "restart"
            await user.stop(course)
        elif spawner is not None and spawner.ready:
            decision = "reuse"
        self.log.info(logline(
            "launch", **fields, decision=decision,
            duration_ms=duration_ms(started, time.perf_counter()), image=plan.image,
        ))
        if decision == "reuse":
            self.redirect(url_path_join(user.server_url(course), plan.default_url))
            return
        # The spawn page starts the server with the plan made here, not a second one.
        user.get_or_create_spawner(course, course, replace_failed=True).hand_plan(launch, plan)
        self.redirect(url_path_join(self.hub.base_url, "spawn", user.escaped_name, course))
