"""The plan of a course's grader: names, hub scopes, the JupyterHub service spec and the
container plan, as data (grading/ provisions it, spawners/ runs it).

A course's formgrader is an *external* JupyterHub service named exactly as the course, because
nbgrader's course list finds it by that name (server_extensions/course_list/handlers.py) and
links to ``/services/{course}/lab?formgrader=true``. It runs ``jupyterhub-singleuser`` in the
grader image under the course's grader uid and the course group, with the course directory as
its root (nbgrader's formgrader refuses a course root outside the server root).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .courses import grader_name, student_group
from .policy import COURSE_ROOT
from .settings import Settings

GRADER_PORT = 8888
GRADER_HOME = "/home/jovyan"
ROSTER_DIR = "/srv/coursehub/roster"


@dataclass(frozen=True)
class GraderRecord:
    """The ids and secrets a course's grader is (re)created with, kept in the hub database so
    that a restart reuses the token the hub knows and the password the gradebook role has."""

    course_id: str
    grader_uid: int
    course_gid: int
    api_token: str
    db_password: str


def container_name(settings: Settings, course: str) -> str:
    return f"{settings.stack}-grader-{course}"


def gradebook_name(course: str) -> str:
    """Postgres database *and* role of the course's gradebook (a course id is [a-z0-9-])."""
    return "gradebook_" + course.replace("-", "_")


def formgrader_role(course: str) -> dict[str, Any]:
    """Lets the course's instructors and TAs (group formgrade-{course}) into its formgrader;
    anyone without it gets 403 from /hub/api/oauth2/authorize."""
    return {
        "name": f"formgrader-{course}",
        "description": f"Open the formgrader of {course}",
        "scopes": [f"access:services!service={course}"],
        "managed_by_auth": True,
    }


def grader_service_role(course: str) -> dict[str, Any]:
    """The grader's own token: nbgrader's JupyterHubAuthPlugin adds students added to the
    gradebook to nbgrader-{course} (GET /groups, POST /groups/{g}/users) - that group only."""
    group, account = student_group(course), grader_name(course)
    return {
        "name": f"grader-{course}",
        "description": f"The formgrader service of {course}",
        "scopes": [
            f"list:groups!group={group}",
            f"read:groups!group={group}",
            f"groups!group={group}",
            # The formgrader lists released assignments with nbgrader's course filter, which
            # reads the groups of JUPYTERHUB_USER (the grader account) to find its courses.
            f"read:users:name!user={account}",
            f"read:users:groups!user={account}",
        ],
        "managed_by_auth": True,
    }


def access_scopes(course: str) -> list[str]:
    """Who the grader's jupyterhub-singleuser lets in (as a managed service would get)."""
    return ["access:services", f"access:services!service={course}"]


def service_url(settings: Settings, course: str) -> str:
    return f"http://{container_name(settings, course)}:{GRADER_PORT}"


def service_spec(settings: Settings, course: str, api_token: str) -> dict[str, Any]:
    """Body of POST /hub/api/services/{course}: only the keys JupyterHub 6.1.1's REST API
    accepts (apihandlers/base.py _service_model_types; `timeout` is config-only, so the hub
    waits the default 30 s for a new grader)."""
    return {
        "url": service_url(settings, course),
        "api_token": api_token,
        "oauth_client_id": f"service-{course}",
        "oauth_no_confirm": True,
        "display": False,
        "info": {"coursehub": "formgrader", "course": course},
    }


@dataclass(frozen=True)
class GraderPlan:
    """What the grader container of one course is created with."""

    name: str
    image: str
    user: str
    environment: Mapping[str, str]
    # (source relative to the data root, target)
    mounts: tuple[tuple[str, str], ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = ""

    def fingerprint(self) -> str:
        payload = json.dumps(
            [self.image, self.user, dict(sorted(self.environment.items())), sorted(self.mounts),
             self.network],
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def binds(self) -> tuple[tuple[str, str, bool], ...]:
        """(source under the data root, target, read-only) of each mount: only the roster
        passwd, which the hub keeps, is read-only."""
        return tuple((source, target, target == ROSTER_DIR) for source, target in self.mounts)

    def is_current(self, labels: Mapping[str, str] | None) -> bool:
        """Whether a grader container or service with these labels was made from this plan."""
        return (labels or {}).get("coursehub.fingerprint") == self.labels["coursehub.fingerprint"]


def plan_grader(settings: Settings, record: GraderRecord, gradebook_url: str) -> GraderPlan:
    """The grader of ``record``'s course; ``gradebook_url`` is its own database (grading/)."""
    course = record.course_id
    env = {
        "JUPYTERHUB_SERVICE_NAME": course,
        "JUPYTERHUB_API_TOKEN": record.api_token,
        "JUPYTERHUB_API_URL": settings.hub_api_url,
        "JUPYTERHUB_CLIENT_ID": f"service-{course}",
        "JUPYTERHUB_SERVICE_PREFIX": f"/services/{course}/",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"/services/{course}/oauth_callback",
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(access_scopes(course)),
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:{GRADER_PORT}",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_USER": grader_name(course),
        "JUPYTERHUB_DEFAULT_URL": "/lab",
        # The formgrader needs the course root inside the server root; the course root is it.
        "JUPYTERHUB_ROOT_DIR": COURSE_ROOT,
        "NBGRADER_COURSE_ID": course,
        "NBGRADER_COURSE_ROOT": COURSE_ROOT,
        "NBGRADER_EXCHANGE_ROOT": settings.exchange_root,
        "NBGRADER_DB_URL": gradebook_url,
        "COURSEHUB_FRAME_ANCESTORS": settings.csp_frame_ancestors,
        "COURSEHUB_ROLE": "grader",
        "HOME": GRADER_HOME,
        "USER": grader_name(course),
        "LOGNAME": grader_name(course),
    }
    if settings.public_url.startswith("https://"):
        # Services do not get the hub's cookie options by themselves (UPSTREAM 2).
        env["JUPYTERHUB_COOKIE_OPTIONS"] = json.dumps({"samesite": "None", "secure": True})
    # nbgrader's collect checks that a submission's files belong to the student named in it,
    # by looking the owner's uid up in passwd. Students' uids are the hub's, so the hub keeps
    # a passwd of the course's students (read-only here) and nss_wrapper answers from it;
    # without it every submission looked "owned by unknown id".
    env.update({
        "LD_PRELOAD": "libnss_wrapper.so",
        "NSS_WRAPPER_PASSWD": f"{ROSTER_DIR}/passwd",
        "NSS_WRAPPER_GROUP": "/etc/group",
    })
    mounts = (
        (f"courses/{course}", COURSE_ROOT),
        (f"exchange/{course}", f"{settings.exchange_root}/{course}"),
        (f"graders/{course}", GRADER_HOME),
        (f"rosters/{course}", ROSTER_DIR),
    )
    plan = GraderPlan(
        name=container_name(settings, course),
        image=settings.grader_image,
        user=f"{record.grader_uid}:{record.course_gid}",
        environment=env,
        mounts=mounts,
        network=settings.network,
    )
    labels = {
        "coursehub.stack": settings.stack,
        "coursehub.grader": course,
        "coursehub.fingerprint": plan.fingerprint(),
    }
    return GraderPlan(**{**plan.__dict__, "labels": labels})
