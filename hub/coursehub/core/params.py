"""Validates the custom parameters of a tool link (untrusted) into CustomParams for the spawn policy.

Instructors set these per link in the LMS; LTI 1.1 posts them as ``custom_<name>``, LTI 1.3
sends ``<name>`` inside the custom claim (the Launch keeps them without the prefix). Names and
values are matched case-insensitively for the keyword values (``interface``, volume kinds).
Custom keys that are not in PARAMETERS are ignored: LMSs add many of their own (Canvas
``canvas_*``, the ``email``/``lms_user_id`` of ltiauthenticator's LTI 1.3 config); a name
close to one of ours gets a note, so a typo shows up in the log instead of silently doing nothing.
An empty value means "not set", as LMS forms often send blank fields.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable, Mapping

from .settings import RolePolicy, parse_size

STUDENT = "student"
INTERFACES = ("lab", "notebook")
VOLUME_KINDS = ("materials", "submissions", "personal")
MAX_VOLUMES = 8
MIN_CPU = 0.1
MIN_MEM = 128 * 1024**2
_ASSIGNMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VOLUME_NAME = re.compile(r"^[a-z0-9-]{1,32}$")
# Docker image reference characters; anything else cannot be on an allow-list anyway.
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
_CPU = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class ParamSpec:
    """One row of the custom parameter reference."""

    name: str
    example: str
    meaning: str
    rule: str


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("image", "coursehub/student:2024",
              "notebook image of the server",
              "must be the role's image or on its `allowed_images` list in the settings file"),
    ParamSpec("interface", "lab", "start page: JupyterLab (`lab`) or Notebook 7 (`notebook`)",
              "`lab` or `notebook`; default from the role's settings"),
    ParamSpec("assignment", "ps1",
              "nbgrader assignment fetched into the workspace and opened on start",
              "`[A-Za-z0-9_-]{1,64}`; must be released in the course"),
    ParamSpec("volumes", "data:materials,hw:submissions,scratch:personal",
              "course volumes mounted under `/home/jovyan/volumes/<name>`; comma-separated "
              "`name:kind`, `name:kind:ro` or `name:kind:rw`. `materials`: instructors rw, "
              "students ro. `submissions`: each student rw in their own subfolder only, "
              "instructors/TAs see all (ro unless `:rw`). "
              "`personal`: one folder per user",
              f"names `[a-z0-9-]{{1,32}}`, at most {MAX_VOLUMES}; no paths, `/` or `..`; "
              "students cannot get `materials` rw"),
    ParamSpec("cpu_limit", "1.5", "CPU cores for this link's servers",
              f"a number >= {MIN_CPU}; lowered to the role's `cpu_max`"),
    ParamSpec("mem_limit", "2G", "memory for this link's servers",
              "a size like `512M` or `2G`, at least 128M; lowered to the role's `mem_max`"),
)
_NAMES = tuple(spec.name for spec in PARAMETERS)


class ParamError(ValueError):
    """A custom parameter is invalid; the launch is refused with this message."""

    def __init__(self, param: str, message: str):
        self.param = param
        self.message = message
        super().__init__(f"custom parameter {param!r}: {message}")


@dataclass(frozen=True)
class VolumeRequest:
    """One named course volume asked for by a link; ``read_only`` None means the kind's default."""

    name: str
    kind: str
    read_only: bool | None = None


@dataclass(frozen=True)
class CustomParams:
    """Validated custom parameters for one role; None/() means "use the role's default"."""

    role: str
    image: str | None = None
    interface: str | None = None
    assignment: str | None = None
    volumes: tuple[VolumeRequest, ...] = ()
    cpu_limit: float | None = None
    mem_limit: int | None = None
    notes: tuple[str, ...] = ()


def _check_path_free(param: str, value: str) -> None:
    """Names end up in paths on the host; refuse anything that could leave its folder."""
    if value.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", value):
        raise ParamError(param, f"{value!r} looks like a host path; give a name, not a path")
    if ".." in value:
        raise ParamError(param, f"{value!r} contains '..'")
    if "/" in value or "\\" in value:
        raise ParamError(param, f"{value!r} contains a path separator")


def _image(value: str, role: str, policy: RolePolicy) -> str:
    if not _IMAGE.match(value):
        raise ParamError("image", f"{value!r} is not an image name")
    if not policy.may_use(value):
        allowed = ", ".join((policy.image, *policy.allowed_images))
        raise ParamError("image", f"{value!r} is not allowed for {role}s (allowed: {allowed})")
    return value


def _interface(value: str) -> str:
    interface = value.lower()
    if interface not in INTERFACES:
        raise ParamError("interface", f"{value!r} is not one of {', '.join(INTERFACES)}")
    return interface


def _assignment(value: str) -> str:
    _check_path_free("assignment", value)
    if not _ASSIGNMENT.match(value):
        raise ParamError("assignment", f"{value!r}: use 1-64 letters, digits, '_' or '-'")
    return value


def _volume(item: str, role: str) -> VolumeRequest:
    parts = item.split(":")
    name = parts[0]
    _check_path_free("volumes", name)
    if not _VOLUME_NAME.match(name):
        raise ParamError("volumes", f"volume name {name!r}: use 1-32 of a-z, 0-9 and '-'")
    if len(parts) not in (2, 3):
        raise ParamError("volumes", f"{item!r}: write name:kind, name:kind:ro or name:kind:rw")
    kind = parts[1].lower()
    if kind not in VOLUME_KINDS:
        raise ParamError("volumes", f"{item!r}: kind must be one of {', '.join(VOLUME_KINDS)}")
    read_only = None
    if len(parts) == 3:
        mode = parts[2].lower()
        if mode not in ("ro", "rw"):
            raise ParamError("volumes", f"{item!r}: mode must be ro or rw")
        read_only = mode == "ro"
    # The same link serves students and instructors; refusing (not silently downgrading) makes
    # the instructor fix the link instead of wondering why students cannot save.
    if role == STUDENT and kind == "materials" and read_only is False:
        raise ParamError("volumes", f"{item!r}: students get materials read-only; drop ':rw'")
    return VolumeRequest(name=name, kind=kind, read_only=read_only)


def _volumes(value: str, role: str) -> tuple[VolumeRequest, ...]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if len(items) > MAX_VOLUMES:
        raise ParamError("volumes", f"{len(items)} volumes asked, at most {MAX_VOLUMES}")
    volumes = tuple(_volume(item, role) for item in items)
    names = [volume.name for volume in volumes]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ParamError("volumes", f"volume {twice[0]!r} is listed twice")
    return volumes


def _cpu(value: str, role: str, policy: RolePolicy) -> tuple[float, str | None]:
    if not _CPU.match(value):
        raise ParamError("cpu_limit", f"{value!r} is not a number of cores like 1 or 0.5")
    cpu = float(value)
    if cpu < MIN_CPU:
        raise ParamError("cpu_limit", f"{value!r} is below the minimum {MIN_CPU}")
    if cpu > policy.limits.cpu_max:
        return policy.limits.cpu_max, (
            f"cpu_limit {value} lowered to the {role} maximum {policy.limits.cpu_max:g}"
        )
    return cpu, None


def _mem(value: str, role: str, policy: RolePolicy) -> tuple[int, str | None]:
    try:
        mem = parse_size(value)
    except ValueError:
        raise ParamError("mem_limit", f"{value!r} is not a size like 512M or 2G") from None
    if mem < MIN_MEM:
        raise ParamError("mem_limit", f"{value!r} is below the minimum 128M")
    if mem > policy.limits.mem_max:
        return policy.limits.mem_max, (
            f"mem_limit {value} lowered to the {role} maximum {policy.limits.mem_max} bytes"
        )
    return mem, None


def _our_values(custom: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    notes: list[str] = []
    for key, raw in custom.items():
        name = str(key).strip().lower()
        value = str(raw).strip()
        if name not in _NAMES:
            close = difflib.get_close_matches(name, _NAMES, n=1, cutoff=0.8)
            if close:
                notes.append(f"custom parameter {key!r} ignored (did you mean {close[0]!r}?)")
            continue
        if name in values and value and values[name] != value:
            raise ParamError(name, "given twice with different values")
        if value:
            values[name] = value
    return values, notes


def validate_params(custom: Mapping[str, str], role: str, policy: RolePolicy) -> CustomParams:
    """Checks every known parameter against ``policy`` (the launch role's); raises ParamError."""
    values, notes = _our_values(custom)
    cpu = mem = None
    if "cpu_limit" in values:
        cpu, note = _cpu(values["cpu_limit"], role, policy)
        notes += [note] if note else []
    if "mem_limit" in values:
        mem, note = _mem(values["mem_limit"], role, policy)
        notes += [note] if note else []
    return CustomParams(
        role=role,
        image=_image(values["image"], role, policy) if "image" in values else None,
        interface=_interface(values["interface"]) if "interface" in values else None,
        assignment=_assignment(values["assignment"]) if "assignment" in values else None,
        volumes=_volumes(values["volumes"], role) if "volumes" in values else (),
        cpu_limit=cpu,
        mem_limit=mem,
        notes=tuple(notes),
    )


# (course_id, assignment) -> released? The caller answers it from the course's exchange
# (``{exchange_root}/{course}/outbound/{assignment}`` exists) at spawn time.
ReleasedPredicate = Callable[[str, str], bool]


def require_released(params: CustomParams, course_id: str, is_released: ReleasedPredicate) -> None:
    """Refuses a link whose assignment is not (yet) released in its course."""
    if params.assignment and not is_released(course_id, params.assignment):
        raise ParamError(
            "assignment",
            f"{params.assignment!r} is not released in course {course_id}; release it in "
            "formgrader or fix the link",
        )


def params_table() -> str:
    """The reference table of custom parameters, as Markdown for the LMS admin."""
    lines = [
        "| parameter (LTI 1.3 custom claim key) | LTI 1.1 field | example | meaning | rule |",
        "|---|---|---|---|---|",
    ]
    for spec in PARAMETERS:
        lines.append(
            f"| `{spec.name}` | `custom_{spec.name}` | `{spec.example}` | {spec.meaning} "
            f"| {spec.rule} |"
        )
    return "\n".join(lines) + "\n"
