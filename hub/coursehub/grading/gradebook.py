"""A course's nbgrader gradebook: its own Postgres database and role on the hub's Postgres
(a SQLite file in the course directory when the hub itself runs on SQLite, in development),
and the student rows the hub writes into it."""

from __future__ import annotations

from typing import Mapping

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from ..core.graderplan import GraderRecord, gradebook_name
from ..core.policy import COURSE_ROOT
from ..core.settings import Settings
from ..storage import runtime


def _on_postgres(settings: Settings) -> bool:
    return make_url(settings.db_url).drivername.startswith("postgresql")


def gradebook_url(settings: Settings, course: str, password: str) -> str:
    """The gradebook as the grader reaches it: its own database and role."""
    if not _on_postgres(settings):
        return f"sqlite:///{COURSE_ROOT}/gradebook.db"
    name = gradebook_name(course)
    return make_url(settings.db_url).set(username=name, password=password, database=name).render_as_string(
        hide_password=False
    )


def hub_gradebook_url(settings: Settings, course: str) -> str:
    """The gradebook as the hub reaches it (with the hub's own Postgres account)."""
    if not _on_postgres(settings):
        return f"sqlite:///{runtime.datastore(settings).local(f'courses/{course}/gradebook.db')}"
    return make_url(settings.db_url).set(database=gradebook_name(course)).render_as_string(hide_password=False)


def ensure_gradebook_sync(settings: Settings, record: GraderRecord) -> None:
    """The course's own Postgres role and database; nobody else may connect to them, and the
    grader's role may not connect to the hub's database (instructors can read the grader's
    environment from a formgrader terminal)."""
    if not _on_postgres(settings):
        return
    hub = make_url(settings.db_url)
    name = gradebook_name(record.course_id)
    engine = create_engine(hub, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
            # Identifiers cannot be bound parameters; `name` is [a-z0-9_] by construction and
            # the password is quoted by Postgres' own quote_literal.
            password = conn.execute(text("SELECT quote_literal(:p)"), {"p": record.db_password}).scalar()
            verb = "ALTER" if exists else "CREATE"
            _ignore_duplicate(conn, f'{verb} ROLE "{name}" LOGIN PASSWORD {password}')
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                _ignore_duplicate(conn, f'CREATE DATABASE "{name}" OWNER "{name}"')
            conn.execute(text(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC'))
            conn.execute(text(f'REVOKE ALL ON DATABASE "{hub.database}" FROM PUBLIC'))
    finally:
        engine.dispose()


def _ignore_duplicate(conn, sql: str) -> None:
    try:
        conn.execute(text(sql))
    except ProgrammingError as error:
        # A concurrent provisioning created it between our check and this statement.
        if "already exists" not in str(error):
            raise


_UPSERT_STUDENT = text(
    "INSERT INTO student (id, first_name, last_name, email, lms_user_id) "
    "VALUES (:id, :first_name, :last_name, :email, :lms_user_id) "
    "ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, "
    "last_name = excluded.last_name, email = excluded.email, lms_user_id = excluded.lms_user_id"
)


def upsert_student_sync(url: str, student: Mapping[str, str]) -> bool:
    """Adds or updates one student in nbgrader's `student` table; False while the gradebook has
    no schema yet (the grader creates it when it starts).

    NOTE: plain SQL on nbgrader's table, not nbgrader's Gradebook: nbgrader is not installed in
    the hub, and a docker exec of `nbgrader db student add` costs seconds per launch. The
    table's columns (id, first_name, last_name, email, lms_user_id) are nbgrader's since 0.7.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        if not inspect(engine).has_table("student"):
            return False
        with engine.begin() as conn:
            conn.execute(_UPSERT_STUDENT, {k: student.get(k) or None for k in
                                           ("id", "first_name", "last_name", "email", "lms_user_id")})
        return True
    finally:
        engine.dispose()
