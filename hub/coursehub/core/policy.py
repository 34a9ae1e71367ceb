"""The spawn policy: a pure function from a Launch, its validated parameters, settings and ids to a SpawnPlan.

The DockerSpawner subclass only applies the plan, so every decision about what a server may
see (mounts and their modes), run (image, uid/gids) and use (limits) is made, and tested, here.

Mount sources are relative to the data root (a named volume or a host path chosen by the
admin), so a plan can never name a host path. Layout under the data root:

| source | target | who | mode of the directory |
|---|---|---|---|
| ``homes/{course}/{user}`` | ``/home/jovyan`` | everyone, rw | 0700 user |
| ``exchange/{course}`` | ``{exchange_root}/{course}`` | everyone, rw | 0755, made by provisioning |
| ``courses/{course}`` | ``/srv/nbgrader/course`` | instructors/TAs only, rw | 2770 course group |
| ``volumes/{course}/materials/{name}`` | ``{volume_root}/{name}`` | staff rw, students ro | 2775 course group |
| ``volumes/{course}/submissions/{name}`` | ``{volume_root}/{name}`` | staff, ro unless ``:rw`` | 2770 course group |
| ``volumes/{course}/submissions/{name}/{user}`` | ``{volume_root}/{name}`` | that student, rw | 2770 student + course group |
| ``personal/{course}/{name}/{user}`` | ``{volume_root}/{name}`` | that user, rw | 0700 user |

The volume kind is part of the source path so that a volume declared ``materials`` on one link
and ``submissions`` on another are two folders: sharing one would show every student's
submission to all students of the materials link.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping

from .launch import Launch
from .params import CustomParams, VolumeRequest
from .settings import Settings

HOME = "/home/jovyan"
COURSE_ROOT = "/srv/nbgrader/course"
STAFF_ROLES = ("instructor", "ta")
_SAFE_SLUG = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,29}$")
_PATH_PART = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Ids:
    """Numeric ids allocated by the hub: the user's own, and the course's staff group."""

    uid: int
    gid: int
    # Shared by the course's grader, instructors and TAs; students never get it.
    course_gid: int

    def __post_init__(self) -> None:
        # Servers run unprivileged; an id of 0 would make a student root on the data volume.
        if min(self.uid, self.gid, self.course_gid) <= 0:
            raise ValueError(f"ids must be > 0, got {self}")


@dataclass(frozen=True)
class Mount:
    """A directory under the data root mounted into the container, and how to create it.

    ``owner_uid``/``owner_gid`` None means "not a user's": the directory belongs to the course's
    grader (made by provisioning) or to the data root's owner, and the spawner must not chown it.
    """

    source: str
    target: str
    read_only: bool
    owner_uid: int | None
    owner_gid: int | None
    mode: int

    def __post_init__(self) -> None:
        parts = self.source.split("/")
        if self.source.startswith("/") or not all(_PATH_PART.match(p) for p in parts) or (
            ".." in parts or "." in parts
        ):
            raise ValueError(f"mount source must be a plain relative path: {self.source!r}")
        if not self.target.startswith("/") or ".." in self.target.split("/"):
            raise ValueError(f"mount target must be absolute: {self.target!r}")


@dataclass(frozen=True)
class SpawnPlan:
    """Everything the spawner applies to start one user's server for one course."""

    server_name: str
    image: str
    uid: int
    gid: int
    supplementary_gids: tuple[int, ...]
    mounts: tuple[Mount, ...]
    environment: Mapping[str, str]
    cpu_limit: float
    mem_limit: int
    cpu_guarantee: float
    mem_guarantee: int
    default_url: str
    assignment: str | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    def fingerprint(self) -> str:
        """A stable hash of what shapes the container; a change means the server must restart.

        ``notes`` are left out: they explain a plan, they do not change the container.
        """
        payload = {
            "server_name": self.server_name,
            "image": self.image,
            "uid": self.uid,
            "gid": self.gid,
            "supplementary_gids": sorted(self.supplementary_gids),
            "mounts": sorted(
                [m.source, m.target, m.read_only, m.owner_uid, m.owner_gid, m.mode]
                for m in self.mounts
            ),
            "environment": dict(sorted(self.environment.items())),
            "cpu_limit": self.cpu_limit,
            "mem_limit": self.mem_limit,
            "cpu_guarantee": self.cpu_guarantee,
            "mem_guarantee": self.mem_guarantee,
            "default_url": self.default_url,
            "assignment": self.assignment,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def is_staff(role: str) -> bool:
    return role in STAFF_ROLES


def _volume_mount(volume: VolumeRequest, launch: Launch, ids: Ids, root: str) -> Mount:
    course, user, staff = launch.course_id, launch.username, is_staff(launch.role)
    target = f"{root}/{volume.name}"
    if volume.kind == "personal":
        return Mount(f"personal/{course}/{volume.name}/{user}", target,
                     bool(volume.read_only), ids.uid, ids.gid, 0o700)
    base = f"volumes/{course}/{volume.kind}/{volume.name}"
    if volume.kind == "materials":
        read_only = True if not staff else bool(volume.read_only)
        return Mount(base, target, read_only, None, ids.course_gid, 0o2775)
    if staff:
        # Staff read all submissions; writing needs an explicit ':rw' so that nobody
        # overwrites a student's work by accident.
        read_only = volume.read_only is not False
        return Mount(base, target, read_only, None, ids.course_gid, 0o2770)
    # A student gets only their own subfolder; the course group lets staff read it.
    return Mount(f"{base}/{user}", target, bool(volume.read_only), ids.uid, ids.course_gid, 0o2770)


def _mounts(launch: Launch, params: CustomParams, settings: Settings, ids: Ids) -> tuple[Mount, ...]:
    course = launch.course_id
    mounts = [
        Mount(f"homes/{course}/{launch.username}", HOME, False, ids.uid, ids.gid, 0o700),
        # nbgrader needs the exchange writable (submit writes to inbound); its subfolder
        # modes (inbound 2733, outbound 0755, feedback 0711) are made by provisioning.
        Mount(f"exchange/{course}", f"{settings.exchange_root}/{course}", False, None, None, 0o755),
    ]
    if is_staff(launch.role):
        mounts.append(Mount(f"courses/{course}", COURSE_ROOT, False, None, ids.course_gid, 0o2770))
    root = settings.volume_mount_root
    mounts += [_volume_mount(v, launch, ids, root) for v in params.volumes]
    # One canonical order, so equal plans compare equal whatever the order of names in the link.
    return tuple(sorted(mounts, key=lambda m: m.target))


def _environment(launch: Launch, params: CustomParams, settings: Settings) -> dict[str, str]:
    env = {
        "NBGRADER_COURSE_ID": launch.course_id,
        "NBGRADER_EXCHANGE_ROOT": settings.exchange_root,
        "COURSEHUB_ROLE": launch.role,
        "HOME": HOME,
        "USER": launch.username,
        "LOGNAME": launch.username,
    }
    if is_staff(launch.role):
        env["NBGRADER_COURSE_ROOT"] = COURSE_ROOT
    if params.assignment:
        env["COURSEHUB_ASSIGNMENT"] = params.assignment
    return env


def default_url(interface: str, course: str, assignment: str | None) -> str:
    """The start page; with an assignment, its folder (fetch with path_includes_course puts it
    at ``./{course}/{assignment}``)."""
    base = "/lab" if interface == "lab" else "/tree"
    if not assignment:
        return base
    return f"/lab/tree/{course}/{assignment}" if interface == "lab" else f"/tree/{course}/{assignment}"


def plan_spawn(launch: Launch, params: CustomParams, settings: Settings, ids: Ids) -> SpawnPlan:
    """The server of ``launch.username`` for ``launch.course_id``, as a plan; raises ValueError
    when the inputs contradict each other (they come from other modules, so that is a bug)."""
    if not _SAFE_SLUG.match(launch.course_id) or launch.course_id.endswith("-"):
        raise ValueError(f"course_id not resolved or unsafe: {launch.course_id!r}")
    if params.role != launch.role:
        raise ValueError(f"params were validated for {params.role}, launch is {launch.role}")
    policy = settings.role_policy(launch.role)
    # Checked again here so that the allow-list and maxima hold even if validation was skipped.
    image = params.image or policy.image
    if not policy.may_use(image):
        raise ValueError(f"image {image!r} is not allowed for {launch.role}")
    limits = policy.limits
    cpu_limit = min(params.cpu_limit or limits.cpu_default, limits.cpu_max)
    mem_limit = min(params.mem_limit or limits.mem_default, limits.mem_max)
    notes = list(params.notes)
    cpu_guarantee = min(limits.cpu_guarantee, cpu_limit)
    mem_guarantee = min(limits.mem_guarantee, mem_limit)
    if (cpu_guarantee, mem_guarantee) != (limits.cpu_guarantee, limits.mem_guarantee):
        notes.append("guarantee lowered to the link's smaller limit")
    interface = params.interface or policy.interface
    return SpawnPlan(
        server_name=launch.course_id,
        image=image,
        uid=ids.uid,
        gid=ids.gid,
        supplementary_gids=(ids.course_gid,) if is_staff(launch.role) else (),
        mounts=_mounts(launch, params, settings, ids),
        environment=_environment(launch, params, settings),
        cpu_limit=cpu_limit,
        mem_limit=mem_limit,
        cpu_guarantee=cpu_guarantee,
        mem_guarantee=mem_guarantee,
        default_url=default_url(interface, launch.course_id, params.assignment),
        assignment=params.assignment,
        notes=tuple(notes),
    )
