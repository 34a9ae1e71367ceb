"""Applies a SpawnPlan with DockerSpawner: one container per user per course (a named server
whose name is the course id); the plan decides everything, this class only carries it out."""

from __future__ import annotations

import asyncio
import time

from dockerspawner import DockerSpawner
from traitlets import Any, Unicode

from ..core.courses import grader_name
from ..core.launch import Launch
from ..core.logline import duration_ms, logline
from ..core.policy import SpawnPlan
from ..storage import runtime
from ..storage.registry import course_gid_name
from .hardening import SERVER_PIDS_LIMIT, container_hardening
from .plans import launch_for, plan_for


class CoursehubSpawner(DockerSpawner):
    """DockerSpawner whose image, mounts, user, environment and limits come from the plan."""

    settings = Any(help="The validated coursehub Settings (set by coursehub.config).").tag(config=True)
    plan_fingerprint = Unicode(
        "", help="Fingerprint of the plan the running container was started from."
    )

    def hand_plan(self, launch: Launch, plan: SpawnPlan) -> None:
        """The plan the open page made for this launch, used by the next start (once)."""
        self._handed = (launch, plan)

    def _take_handed(self) -> tuple[Launch, SpawnPlan] | None:
        handed, self._handed = getattr(self, "_handed", None), None
        if handed is not None and handed[1].server_name == self.name:
            return handed
        return None

    async def start(self):
        started = time.perf_counter()
        handed = self._take_handed()
        if handed is None:
            launch = launch_for(await self.user.get_auth_state(), self.name)
            plan = await plan_for(self.settings, launch)
        else:
            launch, plan = handed
        store = runtime.store(self.settings)
        grader_uid = await store.allocate_uid(grader_name(self.name))
        course_gid = await store.allocate_uid(course_gid_name(self.name))
        data = runtime.datastore(self.settings)
        await asyncio.to_thread(self._prepare_folders, data, plan, grader_uid, course_gid)
        self.apply_plan(plan, data)
        result = await super().start()
        self.log.info(logline(
            "spawn", user=self.user.name, course=self.name, role=launch.role, image=plan.image,
            uid=plan.uid, duration_ms=duration_ms(started, time.perf_counter()),
            planned="open-page" if handed else "spawner", notes="; ".join(plan.notes) or None,
        ))
        return result

    @staticmethod
    def _prepare_folders(data, plan: SpawnPlan, grader_uid: int, course_gid: int) -> None:
        # Created here with the right owner and mode: Docker would create missing bind
        # sources as root, which the unprivileged server could not write. The course's
        # exchange keeps nbgrader's modes (datastore.EXCHANGE_MODES); folders the plan leaves
        # without an owner belong to the course: its grader and course group.
        data.ensure_course(plan.server_name, grader_uid, course_gid)
        for mount in plan.mounts:
            if mount.source.startswith("exchange/"):
                continue
            uid = grader_uid if mount.owner_uid is None else mount.owner_uid
            gid = course_gid if mount.owner_gid is None else mount.owner_gid
            data.ensure_dir(mount.source, uid, gid, mount.mode)

    def apply_plan(self, plan: SpawnPlan, data) -> None:
        """Sets DockerSpawner's traits from the plan (no decisions here)."""
        self.image = plan.image
        self.volumes = {
            data.host(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
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
            **container_hardening(SERVER_PIDS_LIMIT),
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
