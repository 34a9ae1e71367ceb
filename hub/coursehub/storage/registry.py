"""The course registry, the uid allocation and the graders' secrets (Store's mixin).

A course id is registered once per LMS context and never moves (it names servers, groups,
services and folders); ``register_course_sync`` is the one writer, for launches and the CLI.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any, Mapping

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from ..core.courses import context_key, grader_name, resolve_course_id
from ..core.graderplan import GraderRecord
from .schema import MAX_KEY_LENGTH, UID_START, CourseRow, courses, graders, uids

# A course-registration race is lost when another launch takes the same id or context between
# our read and our insert; each retry reads the registry again, so a few always suffice.
REGISTER_ATTEMPTS = 5


class CourseBusy(RuntimeError):
    """The course could not be registered after REGISTER_ATTEMPTS races."""


def course_gid_name(course: str) -> str:
    """The name under which the course's group id is allocated in the uid table."""
    return f"course:{course}"


class Registry:
    """Mixin of Store: needs ``engine``, ``create_tables`` and ``_run`` (database.Database)."""

    # -- uids -----------------------------------------------------------------------------
    def allocate_uid_sync(self, username: str) -> int:
        """The stable uid of ``username``; allocates the next free one (>= 20000) on first use.

        Race-safe through the unique constraints: a losing concurrent insert retries and then
        finds either its own name (allocated by the winner) or the next free number.
        """
        self.create_tables()
        for _ in range(50):
            with self.engine.connect() as conn:
                found = conn.execute(select(uids.c.uid).where(uids.c.username == username)).scalar()
            if found is not None:
                return int(found)
            try:
                with self.engine.begin() as conn:
                    highest = conn.execute(select(func.max(uids.c.uid))).scalar()
                    uid = max(UID_START, (highest or 0) + 1)
                    conn.execute(insert(uids).values(username=username, uid=uid))
                return uid
            except IntegrityError:
                continue
        raise RuntimeError(f"could not allocate a uid for {username!r} (too much contention)")

    async def allocate_uid(self, username: str) -> int:
        return await self._run(self.allocate_uid_sync, username)

    # -- courses --------------------------------------------------------------------------
    def course_registry_sync(self) -> dict[str, str]:
        """{course_id: context_key} of every known course."""
        self.create_tables()
        with self.engine.connect() as conn:
            rows = conn.execute(select(courses.c.course_id, courses.c.context_key))
            return {row.course_id: row.context_key for row in rows}

    def course_for_context_sync(self, context_key: str) -> CourseRow | None:
        self.create_tables()
        with self.engine.connect() as conn:
            row = conn.execute(select(courses).where(courses.c.context_key == context_key)).first()
        return _course_row(row) if row else None

    def get_course_sync(self, course_id: str) -> CourseRow | None:
        self.create_tables()
        with self.engine.connect() as conn:
            row = conn.execute(select(courses).where(courses.c.course_id == course_id)).first()
        return _course_row(row) if row else None

    def all_courses_sync(self) -> list[CourseRow]:
        self.create_tables()
        with self.engine.connect() as conn:
            return [_course_row(r) for r in conn.execute(select(courses).order_by(courses.c.course_id))]

    def add_course_sync(self, course: CourseRow) -> bool:
        """Inserts a course; False when its id or context is already registered (a race)."""
        self.create_tables()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(courses).values(
                        course_id=course.course_id,
                        context_key=course.context_key,
                        platform=course.platform,
                        context_id=course.context_id,
                        label=course.label,
                        title=course.title,
                        created_at=datetime.now(timezone.utc),
                    )
                )
            return True
        except IntegrityError:
            return False

    def register_course_sync(
        self, platform: str, context_id: str, label: str, title: str, id_source: str
    ) -> tuple[CourseRow, bool]:
        """The course of an LMS context, registered when new: (row, whether this call made it).

        Race-safe: a lost insert (another launch took the id or the context a moment ago)
        reads the registry again, at most REGISTER_ATTEMPTS times.
        """
        key = context_key(platform, context_id)
        for _ in range(REGISTER_ATTEMPTS):
            known = self.course_for_context_sync(key)
            if known is not None:
                return known, False
            course_id = resolve_course_id(platform, context_id, label, title,
                                          self.course_registry_sync(), id_source)
            row = CourseRow(
                course_id=course_id,
                context_key=key,
                platform=platform[:MAX_KEY_LENGTH],
                context_id=context_id,
                label=label[:MAX_KEY_LENGTH],
                title=title[:1024],
            )
            if self.add_course_sync(row):
                return row, True
        raise CourseBusy(f"could not register the course of {key!r} (database busy)")

    async def course_for_context(self, context_key: str) -> CourseRow | None:
        return await self._run(self.course_for_context_sync, context_key)

    async def get_course(self, course_id: str) -> CourseRow | None:
        return await self._run(self.get_course_sync, course_id)

    async def register_course(
        self, platform: str, context_id: str, label: str, title: str, id_source: str
    ) -> tuple[CourseRow, bool]:
        return await self._run(self.register_course_sync, platform, context_id, label, title, id_source)

    # -- graders --------------------------------------------------------------------------
    def grader_record_sync(self, course: str) -> GraderRecord | None:
        """The course's grader record (secrets here, ids from the uid table), or None."""
        self.create_tables()
        with self.engine.connect() as conn:
            row = conn.execute(select(graders).where(graders.c.course_id == course)).first()
        return self._record(row) if row else None

    def all_grader_records_sync(self) -> list[GraderRecord]:
        self.create_tables()
        with self.engine.connect() as conn:
            rows = conn.execute(select(graders).order_by(graders.c.course_id)).all()
        return [self._record(row) for row in rows]

    def ensure_grader_record_sync(self, course: str) -> GraderRecord:
        """The course's grader record, created once: the first writer wins a race, the others read."""
        found = self.grader_record_sync(course)
        if found:
            return found
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(graders).values(
                    course_id=course, api_token=secrets.token_hex(32),
                    db_password=secrets.token_urlsafe(24), created_at=datetime.now(timezone.utc),
                ))
        except IntegrityError:
            pass
        found = self.grader_record_sync(course)
        assert found is not None
        return found

    def _record(self, row: Any) -> GraderRecord:
        return GraderRecord(
            course_id=row.course_id,
            grader_uid=self.allocate_uid_sync(grader_name(row.course_id)),
            course_gid=self.allocate_uid_sync(course_gid_name(row.course_id)),
            api_token=row.api_token,
            db_password=row.db_password,
        )


def _course_row(row: Mapping[str, Any] | Any) -> CourseRow:
    return CourseRow(
        course_id=row.course_id,
        context_key=row.context_key,
        platform=row.platform,
        context_id=row.context_id,
        label=row.label,
        title=row.title,
    )
