"""``/hub/coursehub/deep-link/{course}``: where an instructor's LTI Deep Linking request lands.
They pick an nbgrader assignment of the course and the link's options - the same custom
parameters, validated as at a launch - and the LMS gets an ``ltiResourceLink`` back, with a
line item so grades sent later land on it.

The request (return URL, data, deployment) comes from the user's encrypted auth_state, where
the verified id_token put it; each request is answered once.
"""

from __future__ import annotations

import asyncio

from jupyterhub.handlers import BaseHandler

from ..core.launch import Launch
from ..core.logline import logline
from ..core.params import PARAMETERS, ParamError, validate_params
from ..grading.gradebook import GradebookUnavailable, hub_gradebook_url, read_grades_sync, source_assignments
from ..grading.provision import ProvisionError, ensure_course
from ..lti.checks import Refusal
from ..lti.deeplinking import content_item, signed_response
from ..lti.forms import auto_submit_form

OPTIONS = ("interface", "image", "volumes", "cpu_limit", "mem_limit")


class DeepLinkHandler(BaseHandler):
    def initialize(self, coursehub_settings):
        self.coursehub_settings = coursehub_settings

    async def request_of(self, course: str) -> tuple[object, dict, Launch]:
        user = self.current_user
        if user is None:
            raise Refusal(403, "not_logged_in", "Open coursehub's link picker from your LMS.")
        state = await user.get_auth_state() or {}
        data = (state.get("deep_linking") or {}).get(course)
        if not data:
            raise Refusal(400, "no_deep_link_request",
                          "There is no open request of your LMS to add a coursehub link to this course (it was "
                          "answered already, or never made): start again from the LMS.")
        return user, state, Launch.from_dict(data)

    async def assignments(self, course: str) -> dict[str, float]:
        settings = self.coursehub_settings
        found = await asyncio.to_thread(source_assignments, settings, course)
        try:
            maxima, _, _ = await asyncio.to_thread(read_grades_sync, await asyncio.to_thread(
                hub_gradebook_url, settings, course))
            found.update({k: v for k, v in maxima.items() if v or k not in found})
        except GradebookUnavailable:
            pass
        return dict(sorted(found.items()))

    async def page(self, course: str, request: Launch, error: str = "", form: dict | None = None) -> None:
        policy = self.coursehub_settings.role_policy("student")
        self.finish(await self.render_template(
            "coursehub-deeplink.html", course=course, title=request.context_title or course,
            assignments=await self.assignments(course), error=error, form=form or {},
            images=[policy.image, *policy.allowed_images],
            help={p.name: p.meaning for p in PARAMETERS},
        ))

    async def get(self, course: str):
        _, _, request = await self.request_of(course)
        try:
            # A new course can be linked before anyone opened it: its folders and formgrader first.
            await ensure_course(course, self.coursehub_settings, self)
        except ProvisionError as error:
            raise Refusal(503, "provisioning_failed",
                          f"The course could not be set up ({error.step}); try again from the LMS.") from None
        await self.page(course, request)

    async def post(self, course: str):
        user, state, request = await self.request_of(course)
        form = {k: self.get_body_argument(k, "").strip() for k in ("assignment", "title", *OPTIONS)}
        assignments = await self.assignments(course)
        custom = {k: v for k, v in form.items() if v and k in ("assignment", *OPTIONS)}
        if form["assignment"] and form["assignment"] not in assignments:
            return await self.page(course, request, f"{form['assignment']!r} is not an assignment of this course.", form)
        try:
            # The link's students launch with these: the same check as at their launch.
            validate_params(custom, "student", self.coursehub_settings.role_policy("student"))
        except ParamError as error:
            self.set_status(400)
            return await self.page(course, request, f"The link's option is invalid: {error}", form)
        key = self.authenticator.tool_key
        if key is None:
            raise Refusal(503, "no_tool_key", "The hub has no LTI 1.3 key, so it cannot answer the LMS.")
        title = form["title"] or form["assignment"] or f"{request.context_title or course} notebooks"
        item = content_item(title, custom, course, form["assignment"], assignments.get(form["assignment"], 0))
        token = signed_response(key, request, [item])
        # One answer per request: a reload cannot send a second link.
        state = {**state, "deep_linking": {k: v for k, v in (state.get("deep_linking") or {}).items() if k != course}}
        await user.save_auth_state(state)
        self.log.info(logline("deep_link", user=user.name, course=course, assignment=form["assignment"] or None,
                              title=title, platform=request.platform))
        self.set_header("Cache-Control", "no-store")
        self.finish(auto_submit_form(str(request.deep_linking["deep_link_return_url"]), {"JWT": token},
                                     title="Back to the LMS"))
