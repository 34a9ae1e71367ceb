"""The one place that turns a stored launch into a SpawnPlan: the launch read from auth_state,
its custom parameters validated, the ids allocated and an assignment's release checked, then
the pure policy (core/policy.py).

The open page (web/open.py) plans each launch once and hands the plan to the spawner; the
spawner plans by itself only when a server starts without that page (the spawn page of a
stopped server, the REST API, an admin), from the same stored launch.
"""

from __future__ import annotations

import asyncio
import os
from typing import Callable

from tornado import web

from ..core.launch import Launch
from ..core.params import ParamError, require_released, validate_params
from ..core.policy import Ids, SpawnPlan, plan_spawn
from ..core.settings import Settings
from ..storage import runtime
from ..storage.registry import course_gid_name


class NoLaunch(web.HTTPError):
    """A server was requested for a course this user never launched from the LMS."""

    def __init__(self, course: str):
        super().__init__(
            403,
            f"Open the course '{course}' from your LMS: coursehub starts course servers only "
            "from an LTI launch of that course.",
        )


def launch_for(auth_state: dict | None, course: str) -> Launch:
    """The latest launch of `course` kept in the user's auth_state (one entry per course)."""
    launches = (auth_state or {}).get("launches") or {}
    data = launches.get(course)
    if not data:
        raise NoLaunch(course)
    return Launch.from_dict(data)


async def ids_for(settings: Settings, launch: Launch) -> Ids:
    """uid/gid from the hub's allocation table; the course group is shared with the grader."""
    store = runtime.store(settings)
    uid = await store.allocate_uid(launch.username)
    course_gid = await store.allocate_uid(course_gid_name(launch.course_id))
    return Ids(uid=uid, gid=uid, course_gid=course_gid)


def released_in(store) -> Callable[[str, str], bool]:
    """Whether an assignment is released: nbgrader's release puts it in the course's outbound."""

    def is_released(course: str, assignment: str) -> bool:
        return os.path.isdir(store.local(f"exchange/{course}/outbound/{assignment}"))

    return is_released


async def plan_for(settings: Settings, launch: Launch) -> SpawnPlan:
    """Validates the launch's custom parameters and plans its server; HTTP 400 on bad input,
    including an `assignment` that is not released in the course (checked on every plan, so a
    retracted assignment refuses the next launch too)."""
    policy = settings.role_policy(launch.role)
    try:
        params = validate_params(launch.custom, launch.role, policy)
        if params.assignment:
            await asyncio.to_thread(
                lambda: require_released(params, launch.course_id,
                                         released_in(runtime.datastore(settings)))
            )
    except ParamError as error:
        raise web.HTTPError(400, f"The LMS link's custom parameter is invalid: {error}") from None
    return plan_spawn(launch, params, settings, await ids_for(settings, launch))
