"""A course's roster as its grader sees it: the passwd lines nss_wrapper answers from inside
the grader (nbgrader's collect checks submission owners by uid), and each student's gradebook
row (names and LMS id for exports), written when a student launches."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Iterable, Mapping

from jupyterhub import orm

from ..core.courses import student_group
from ..core.logline import logline
from ..core.policy import HOME
from ..core.settings import Settings
from ..storage import runtime
from .gradebook import hub_gradebook_url, upsert_student_sync

# A child of the hub's own logger: a logger of its own had no handler in the hub process, so
# the grader, roster and provisioning lines never reached the hub's log.
log = logging.getLogger("JupyterHub").getChild("coursehub.grading")

_passwd_lock = threading.Lock()


def passwd_line(name: str, uid: int, gid: int, home: str) -> str:
    return f"{name}:x:{uid}:{gid}:{name}:{home}:/usr/sbin/nologin\n"


def add_passwd_entries_sync(settings: Settings, course: str, entries: Mapping[str, tuple]) -> None:
    """Adds users to the course's roster passwd (rosters/{course}/passwd, root-owned, 0644),
    replacing the file atomically; names already there are kept as they are."""
    path = runtime.datastore(settings).local(f"rosters/{course}/passwd")
    with _passwd_lock:
        try:
            with open(path) as handle:
                lines = handle.readlines()
        except FileNotFoundError:
            lines = []
        known = {line.split(":", 1)[0] for line in lines}
        new = [passwd_line(name, *entry) for name, entry in sorted(entries.items()) if name not in known]
        if not new and lines:
            return
        tmp = f"{path}.tmp"
        with open(tmp, "w") as handle:
            handle.writelines(lines + new)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


async def add_students_to_passwd(settings: Settings, course: str, names: Iterable[str]) -> None:
    """The course's roster passwd lines for these hub users, with the uids their servers run as."""
    store = runtime.store(settings)
    entries = {name: (uid, uid, HOME) for name in names for uid in [await store.allocate_uid(name)]}
    if entries:
        await asyncio.to_thread(add_passwd_entries_sync, settings, course, entries)


async def add_earlier_students(settings: Settings, db, course: str) -> int:
    """Roster passwd lines for the students who launched ``course`` before it had a grader
    (members of its nbgrader group, read with the hub's ORM session ``db``); their gradebook
    rows follow at their next launch."""
    group = orm.Group.find(db, student_group(course))
    names = sorted(user.name for user in group.users) if group is not None else []
    await add_students_to_passwd(settings, course, names)
    return len(names)


def has_grader(settings: Settings, course: str) -> bool:
    """Whether the course was provisioned (its roster folder exists)."""
    return os.path.isdir(runtime.datastore(settings).local(f"rosters/{course}"))


async def add_student(settings: Settings, launch) -> bool:
    """The student of a launch in the course's roster: passwd line and gradebook row."""
    student = {
        "id": launch.username,
        "first_name": launch.given_name,
        "last_name": launch.family_name,
        "email": launch.email,
        "lms_user_id": launch.lms_user_id,
    }
    if not await asyncio.to_thread(has_grader, settings, launch.course_id):
        # No staff member has opened the course yet, so it has no grader or gradebook; the
        # first staff launch provisions it and adds the students who came before.
        log.info(logline("roster", action="deferred", user=launch.username, course=launch.course_id,
                         reason="the course has no grader yet"))
        return False
    try:
        await add_students_to_passwd(settings, launch.course_id, [launch.username])
        url = await asyncio.to_thread(hub_gradebook_url, settings, launch.course_id)
        return await asyncio.to_thread(upsert_student_sync, url, student)
    except Exception:  # noqa: BLE001 - the roster is a convenience; never fail a launch on it
        log.exception(logline("roster", action="failed", user=launch.username, course=launch.course_id))
        return False
