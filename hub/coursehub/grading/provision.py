"""Provisions a course end to end - grader record, folders, gradebook, hub roles, the grader
container and its JupyterHub service - and brings every known grader back before the hub starts.

Every step is idempotent: a retry after a failure finishes the job, and two launches of a new
course at once provision it once (a per-course lock in the hub, unique keys in the database,
"already exists" answers of Postgres, Docker and the hub treated as success). A failed step
raises ProvisionError naming it, so the launch page can say what failed; nothing is marked
ready, so the next launch tries again.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from ..core.courses import grader_name
from ..core.graderplan import GRADER_HOME, GraderRecord, plan_grader
from ..core.logline import duration_ms, logline
from ..core.settings import Settings
from ..spawners.graders import ensure_grader_sync
from ..storage import runtime
from .gradebook import ensure_gradebook_sync, gradebook_url
from .hubside import ensure_hub_roles, ensure_route, register_service
from .roster import add_earlier_students, add_passwd_entries_sync, log


class ProvisionError(RuntimeError):
    """Provisioning stopped at ``step`` (words for a person) because of ``cause``."""

    def __init__(self, course: str, step: str, cause: BaseException):
        self.course, self.step, self.cause = course, step, cause
        super().__init__(f"{step}: {type(cause).__name__}: {cause}")


def ensure_folders_sync(settings: Settings, record: GraderRecord) -> None:
    data = runtime.datastore(settings)
    data.ensure_course(record.course_id, record.grader_uid, record.course_gid)
    data.ensure_dir(f"graders/{record.course_id}", record.grader_uid, record.course_gid, 0o700)
    data.ensure_dir(f"rosters/{record.course_id}", 0, 0, 0o755)
    add_passwd_entries_sync(settings, record.course_id, {
        grader_name(record.course_id): (record.grader_uid, record.course_gid, GRADER_HOME),
    })


def grader_plan(settings: Settings, record: GraderRecord):
    return plan_grader(settings, record, gradebook_url(settings, record.course_id, record.db_password))


async def hub_started(handler: Any) -> None:
    """Returns once JupyterHub has finished starting.

    NOTE: JupyterHub 6.1.1's start() iterates its service map while awaiting each service's
    URL; a service added by the REST API in that window raises "dictionary changed size during
    iteration" and the hub exits. Upstream would iterate over a copy; until then, a course is
    registered only after start() resolved ``_start_future`` (private, hence getattr).
    """
    app = handler.settings.get("app")
    started = getattr(app, "_start_future", None)
    if started is not None and not started.done():
        await asyncio.shield(started)


_locks: dict[str, asyncio.Lock] = {}
_ready: set[str] = set()


async def ensure_course(course: str, settings: Settings, handler: Any) -> GraderRecord:
    """Provisions ``course`` end to end; fast when it already is (checked once per process).

    ``handler`` is a hub request handler: roles are written with its ORM session
    (``handler.db``) and the proxy route is added with its ``proxy``; the service itself is
    registered through the REST API.
    """
    store = runtime.store(settings)
    if course in _ready:
        return await asyncio.to_thread(store.grader_record_sync, course)
    lock = _locks.setdefault(course, asyncio.Lock())
    async with lock:
        if course in _ready:
            return await asyncio.to_thread(store.grader_record_sync, course)
        started = asyncio.get_running_loop().time()
        db = handler.db

        async def step(what: str, work: Callable[[], Awaitable[Any]]) -> Any:
            try:
                return await work()
            except Exception as error:  # noqa: BLE001 - named and re-raised for the launch page
                raise ProvisionError(course, what, error) from error

        def thread(fn, *args):
            return lambda: asyncio.to_thread(fn, *args)

        async def inline(fn, *args):
            return fn(*args)

        record = await step("the course's record in the hub database",
                            thread(store.ensure_grader_record_sync, course))
        await step("the course's folders on the data volume", thread(ensure_folders_sync, settings, record))
        await step("the roster of earlier students", lambda: add_earlier_students(settings, db, course))
        await step("the course's gradebook database", thread(ensure_gradebook_sync, settings, record))
        await step("the course's groups and roles in the hub", lambda: inline(ensure_hub_roles, db, course))
        action = await step("the grader container",
                            thread(ensure_grader_sync, settings, grader_plan(settings, record)))
        await hub_started(handler)
        service = await step("the formgrader's JupyterHub service",
                             lambda: register_service(settings, course, record.api_token))

        async def grant_and_route() -> None:
            # The service's role can be granted only once the service exists.
            db.expire_all()
            ensure_hub_roles(db, course, service_name=course)
            await ensure_route(handler, course)

        await step("the formgrader's role and proxy route", grant_and_route)
        _ready.add(course)
        log.info(logline("grader", course=course, container=action, service=service,
                         duration_ms=duration_ms(started, asyncio.get_running_loop().time())))
        return record


def start_all_sync(settings: Settings) -> dict[str, str]:
    """Starts (or creates) every known course's grader; needs Docker and Postgres, not the hub.

    The hub waits up to 30 s for each registered service URL at startup, so graders must be up
    before it, or each dead one delays it.
    """
    results = {}
    for record in runtime.store(settings).all_grader_records_sync():
        try:
            ensure_folders_sync(settings, record)
            ensure_gradebook_sync(settings, record)
            results[record.course_id] = ensure_grader_sync(settings, grader_plan(settings, record))
        except Exception as error:  # noqa: BLE001 - one broken course must not stop the others
            results[record.course_id] = f"failed: {error}"
    return results
