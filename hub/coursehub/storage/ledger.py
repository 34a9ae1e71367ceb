"""What the LMS said at launches (links, members, LTI 1.1 grade slots), the line items grades
go to, and every grade send (Store's mixin).

The launch data lives here and not only in auth_state: a grade send needs every student's
LMS id and grade slot at once, long after their launches, and must not decrypt every user's
auth_state to find them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..core.grades import Member
from ..core.launch import AGS_CLAIM, NRPS_CLAIM, Launch
from .schema import (
    MAX_KEY_LENGTH, course_options, grade_sends, lineitems, lti_links, lti_members, outcome_slots,
    roster_syncs,
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def upsert(conn, table: Table, values: Mapping[str, Any], keep: Iterable[str] = ()) -> None:
    """INSERT, or UPDATE of every column but the key and ``keep`` when the key exists."""
    dialect = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect(table).values(**values)
    keys = [c.name for c in table.primary_key.columns]
    changes = {k: statement.excluded[k] for k in values if k not in keys and k not in set(keep)}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes) if changes
                 else statement.on_conflict_do_nothing(index_elements=keys))


def link_values(launch: Launch, now: datetime) -> dict[str, Any]:
    ags = launch.outcomes.get(AGS_CLAIM) or {}
    nrps = launch.outcomes.get(NRPS_CLAIM) or {}
    scopes = ags.get("scope") or []
    return {
        "course_id": launch.course_id, "platform": launch.platform[:MAX_KEY_LENGTH],
        "resource_link_id": launch.resource_link_id[:MAX_KEY_LENGTH], "version": launch.version,
        "client_id": launch.client_id[:MAX_KEY_LENGTH], "deployment_id": launch.deployment_id[:MAX_KEY_LENGTH],
        "assignment": str(launch.custom.get("assignment", ""))[:128],
        "lineitems_url": str(ags.get("lineitems") or "")[:2048],
        "lineitem_url": str(ags.get("lineitem") or "")[:2048],
        "ags_scopes": " ".join(str(s) for s in scopes) if isinstance(scopes, list) else "",
        "outcome_url": str(launch.outcomes.get("lis_outcome_service_url") or "")[:2048],
        "memberships_url": str(nrps.get("context_memberships_url") or "")[:2048],
        "updated_at": now,
    }


class Ledger:
    """Mixin of Store: needs ``engine``, ``create_tables`` and ``_run`` (database.Database)."""

    # -- launches ---------------------------------------------------------------------------
    def record_launch_sync(self, launch: Launch) -> None:
        """The link, the member and (LTI 1.1, a learner's graded link) the grade slot of a
        launch; three upserts in one transaction."""
        self.create_tables()
        now = _now()
        with self.engine.begin() as conn:
            if launch.resource_link_id:
                upsert(conn, lti_links, link_values(launch, now))
            upsert(conn, lti_members, {
                "course_id": launch.course_id, "username": launch.username,
                "platform": launch.platform[:MAX_KEY_LENGTH], "version": launch.version,
                "lms_user_id": launch.lms_user_id[:MAX_KEY_LENGTH], "role": launch.role,
                "given_name": launch.given_name[:256], "family_name": launch.family_name[:256],
                "email": launch.email[:256], "status": "active", "last_launch": now, "updated_at": now,
            })
            sourcedid = str(launch.outcomes.get("lis_result_sourcedid") or "")
            if sourcedid and launch.resource_link_id:
                upsert(conn, outcome_slots, {
                    "course_id": launch.course_id, "username": launch.username,
                    "platform": launch.platform[:MAX_KEY_LENGTH],
                    "resource_link_id": launch.resource_link_id[:MAX_KEY_LENGTH],
                    "sourcedid": sourcedid, "updated_at": now,
                })

    async def record_launch(self, launch: Launch) -> None:
        await self._run(self.record_launch_sync, launch)

    def links_sync(self, course: str) -> list[Any]:
        self.create_tables()
        with self.engine.connect() as conn:
            return list(conn.execute(select(lti_links).where(lti_links.c.course_id == course)
                                     .order_by(lti_links.c.updated_at.desc())))

    def members_sync(self, course: str) -> list[Any]:
        self.create_tables()
        with self.engine.connect() as conn:
            return list(conn.execute(select(lti_members).where(lti_members.c.course_id == course)
                                     .order_by(lti_members.c.username)))

    def grade_members_sync(self, course: str, assignment: str) -> dict[str, Member]:
        """Each student's LMS identity for sending ``assignment``: the LTI 1.3 user id, or the
        LTI 1.1 grade slot of a link whose ``assignment`` parameter names it."""
        links = {(r.platform, r.resource_link_id): r for r in self.links_sync(course)}
        with self.engine.connect() as conn:
            slots = list(conn.execute(select(outcome_slots).where(outcome_slots.c.course_id == course)))
        found: dict[str, Member] = {}
        for row in self.members_sync(course):
            if row.role != "student":
                continue
            found[row.username] = Member(row.username, row.version, lms_user_id=row.lms_user_id,
                                         consumer_key=row.platform if row.version == "1.1" else "")
        for slot in slots:
            link = links.get((slot.platform, slot.resource_link_id))
            member = found.get(slot.username)
            if link is None or member is None or link.assignment != assignment or not link.outcome_url:
                continue
            found[slot.username] = Member(member.student, "1.1", member.lms_user_id, slot.sourcedid,
                                          link.outcome_url, slot.platform)
        return found

    # -- rosters --------------------------------------------------------------------------
    def apply_roster_sync(self, course: str, platform: str, members: Iterable[Any]) -> int:
        """Upserts the roster's members (their launches are kept) and marks whoever the LMS
        no longer lists as left; returns how many left."""
        self.create_tables()
        now = _now()
        members = list(members)
        with self.engine.begin() as conn:
            for m in members:
                upsert(conn, lti_members, {
                    "course_id": course, "username": m.username, "platform": platform[:MAX_KEY_LENGTH],
                    "version": "1.3", "lms_user_id": m.lms_user_id[:MAX_KEY_LENGTH], "role": m.role,
                    "given_name": m.given_name[:256], "family_name": m.family_name[:256],
                    "email": m.email[:256], "status": m.status, "updated_at": now,
                })
            listed = {m.username for m in members}
            gone = [r.username for r in conn.execute(select(lti_members.c.username, lti_members.c.status).where(
                lti_members.c.course_id == course)) if r.username not in listed and r.status != "left"]
            if gone:
                conn.execute(update(lti_members).where(lti_members.c.course_id == course,
                                                       lti_members.c.username.in_(gone))
                             .values(status="left", updated_at=now))
        return len(gone)

    def record_roster_sync_sync(self, course: str, status: str, members: int, detail: str) -> None:
        self.create_tables()
        with self.engine.begin() as conn:
            conn.execute(insert(roster_syncs).values(course_id=course, at=_now(), status=status,
                                                     members=members, detail=detail[:2000]))

    def last_roster_sync_sync(self, course: str) -> dict | None:
        self.create_tables()
        with self.engine.connect() as conn:
            row = conn.execute(select(roster_syncs).where(roster_syncs.c.course_id == course)
                               .order_by(roster_syncs.c.id.desc()).limit(1)).first()
        return dict(row._mapping) if row else None

    # -- line items -------------------------------------------------------------------------
    def lineitem_sync(self, course: str, assignment: str, platform: str, client_id: str) -> str:
        self.create_tables()
        with self.engine.connect() as conn:
            return conn.execute(select(lineitems.c.lineitem_url).where(
                lineitems.c.course_id == course, lineitems.c.assignment == assignment,
                lineitems.c.platform == platform, lineitems.c.client_id == client_id)).scalar() or ""

    def keep_lineitem_sync(self, course: str, assignment: str, platform: str, client_id: str, url: str) -> None:
        self.create_tables()
        with self.engine.begin() as conn:
            upsert(conn, lineitems, {"course_id": course, "assignment": assignment, "platform": platform,
                                     "client_id": client_id, "lineitem_url": url, "created_at": _now()})

    # -- sends ------------------------------------------------------------------------------
    def record_sends_sync(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.create_tables()
        # One executemany: every row carries every column.
        blank = {"version": "", "target": "", "score_given": None, "score_maximum": None, "detail": ""}
        rows = [{**blank, **r, "sent_at": r.get("sent_at") or _now()} for r in rows]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(grade_sends), rows)

    def last_sends_sync(self, course: str, assignment: str | None = None) -> dict[tuple[str, str], dict]:
        """The latest send per (assignment, student) of a course."""
        self.create_tables()
        query = select(grade_sends).where(grade_sends.c.course_id == course).order_by(grade_sends.c.id)
        if assignment is not None:
            query = query.where(grade_sends.c.assignment == assignment)
        latest: dict[tuple[str, str], dict] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                latest[(row.assignment, row.username)] = dict(row._mapping)
        return latest

    def last_successes_sync(self, course: str, assignment: str) -> dict[str, dict]:
        """The latest *successful* send per student: what a resend compares with."""
        self.create_tables()
        latest: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(grade_sends).where(
                    grade_sends.c.course_id == course, grade_sends.c.assignment == assignment,
                    grade_sends.c.status == "sent").order_by(grade_sends.c.id)):
                latest[row.username] = dict(row._mapping)
        return latest

    # -- course options -----------------------------------------------------------------------
    def send_on_feedback_sync(self, course: str) -> bool | None:
        self.create_tables()
        with self.engine.connect() as conn:
            return conn.execute(select(course_options.c.send_on_feedback)
                                .where(course_options.c.course_id == course)).scalar()

    def set_send_on_feedback_sync(self, course: str, value: bool) -> None:
        self.create_tables()
        with self.engine.begin() as conn:
            upsert(conn, course_options, {"course_id": course, "send_on_feedback": value})

