"""Applies a SpawnPlan with DockerSpawner: one container per user per course (a named server
whose name is the course id); the plan decides everything, this class only carries it out."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Callable

from dockerspawner import DockerSpawner
from tornado import web
from traitlets import Any, Unicode

from . import runtime
from .courses import grader_name
from .launch import Launch
from .logline import duration_ms, logline
from .params import ParamError, require_released, validate_params
from .policy import Ids, SpawnPlan, plan_spawn
from .settings import Settings


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
    course_gid = await store.allocate_uid(f"course:{launch.course_id}")
    return Ids(uid=uid, gid=uid, course_gid=course_gid)


def released_in(store) -> Callable[[str, str], bool]:
    """Whether an assignment is released: nbgrader's release puts it in the course's outbound."""

    def is_released(course: str, assignment: str) -> bool:
        return os.path.isdir(store.local(f"exchange/{course}/outbound/{assignment}"))

    return is_released


async def plan_for(settings: Settings, launch: Launch, ids: Ids | None = None) -> SpawnPlan:
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
    return plan_spawn(launch, params, settings, ids or await ids_for(settings, launch))


class CoursehubSpawner(DockerSpawner):
    """DockerSpawner whose image, mounts, user, environment and limits come from the plan."""

    settings = Any(help="The validated coursehub Settings (set by coursehub.apply).").tag(config=True)
    plan_fingerprint = Unicode(
        "", help="Fingerprint of the plan the running container was started from."
    )

    async def start(self):
        started = time.perf_counter()
        launch = launch_for(await self.user.get_auth_state(), self.name)
        ids = await ids_for(self.settings, launch)
        plan = await plan_for(self.settings, launch, ids)
        grader_uid = await runtime.store(self.settings).allocate_uid(grader_name(self.name))
        store = runtime.datastore(self.settings)
        await asyncio.to_thread(self._prepare_folders, store, plan, grader_uid, ids.course_gid)
        self.apply_plan(plan, store)
        result = await super().start()
        self.log.info(logline(
            "spawn", user=self.user.name, course=self.name, role=launch.role, image=plan.image,
            uid=plan.uid, duration_ms=duration_ms(started, time.perf_counter()),
            notes="; ".join(plan.notes) or None,
        ))
        return result

    @staticmethod
    def _prepare_folders(store, plan: SpawnPlan, grader_uid: int, course_gid: int) -> None:
        # Created here with the right owner and mode: Docker would create missing bind
        # sources as root, which the unprivileged server could not write. The course's
        # exchange keeps nbgrader's modes (datastore.EXCHANGE_MODES); folders the plan leaves
        # without an owner belong to the course: its grader and course group.
        store.ensure_course(plan.server_name, grader_uid, course_gid)
        for mount in plan.mounts:
            if mount.source.startswith("exchange/"):
                continue
            uid = grader_uid if mount.owner_uid is None else mount.owner_uid
            gid = course_gid if mount.owner_gid is None else mount.owner_gid
            store.ensure_dir(mount.source, uid, gid, mount.mode)

    def apply_plan(self, plan: SpawnPlan, store) -> None:
        """Sets DockerSpawner's traits from the plan (no decisions here)."""
        self.image = plan.image
        self.volumes = {
            store.host(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
            for m in plan.mounts
        }
        self.environment = {**self.environment, **plan.environment}
        self.default_url = plan.default_url
        self.cpu_limit = plan.cpu_limit
        self.mem_limit = plan.mem_limit
        self.extra_create_kwargs = {
            "user": f"{plan.uid}:{plan.gid}",
            "labels": {
                "coursehub.stack": self.settings.stack,
                "coursehub.user": self.user.name,
                "coursehub.course": self.name,
            },
        }
        host_config = {
            "group_add": [str(g) for g in plan.supplementary_gids],
            # Servers never need privileges: no capabilities, no setuid escalation.
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": 512,
        }
        if plan.mem_guarantee:
            host_config["mem_reservation"] = plan.mem_guarantee
        if plan.cpu_guarantee:
            # Docker has no CPU reservation; relative CPU shares give guaranteed users
            # proportionally more CPU under contention (1024 = one guaranteed core).
            host_config["cpu_shares"] = max(2, int(plan.cpu_guarantee * 1024))
        self.extra_host_config = host_config
        self.plan_fingerprint = plan.fingerprint()

    def get_state(self):
        state = super().get_state()
        if self.plan_fingerprint:
            state["plan_fingerprint"] = self.plan_fingerprint
        return state

    def load_state(self, state):
        super().load_state(state)
        self.plan_fingerprint = state.get("plan_fingerprint", "")

    def clear_state(self):
        super().clear_state()
        self.plan_fingerprint = ""
