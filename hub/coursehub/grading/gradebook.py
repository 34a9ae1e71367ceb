"""A course's nbgrader gradebook: its own Postgres database and role on the hub's Postgres
(a SQLite file in the course directory when the hub itself runs on SQLite, in development),
and the student rows the hub writes into it."""

from __future__ import annotations

import json
import os
from typing import Iterable, Mapping

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..core.graderplan import GraderRecord, gradebook_name
from ..core.grades import StudentScore
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
    # What an LMS did not share (a roster without names, say) never erases what another told.
    "ON CONFLICT (id) DO UPDATE SET first_name = COALESCE(excluded.first_name, student.first_name), "
    "last_name = COALESCE(excluded.last_name, student.last_name), "
    "email = COALESCE(excluded.email, student.email), "
    "lms_user_id = COALESCE(excluded.lms_user_id, student.lms_user_id)"
)


def upsert_student_sync(url: str, student: Mapping[str, str]) -> bool:
    return upsert_students_sync(url, [student])


def upsert_students_sync(url: str, students: Iterable[Mapping[str, str]]) -> bool:
    """Adds or updates students in nbgrader's `student` table, in one transaction; False while
    the gradebook has no schema yet (the grader creates it when it starts).

    NOTE: plain SQL on nbgrader's table, not nbgrader's Gradebook: nbgrader is not installed in
    the hub, and a docker exec of `nbgrader db student add` costs seconds per launch. The
    table's columns (id, first_name, last_name, email, lms_user_id) are nbgrader's since 0.7.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        if not inspect(engine).has_table("student"):
            return False
        rows = [{k: student.get(k) or None for k in ("id", "first_name", "last_name", "email", "lms_user_id")}
                for student in students]
        if rows:
            with engine.begin() as conn:
                conn.execute(_UPSERT_STUDENT, rows)
        return True
    finally:
        engine.dispose()


# -- reading grades (nbgrader's tables, as nbgrader's own column_properties compute them) --
# Grade.score: the manual score if set, else the auto score, plus extra credit; 0 if neither.
_GRADE_SCORE = ("CASE WHEN g.manual_score IS NOT NULL THEN g.manual_score + COALESCE(g.extra_credit, 0) "
                "WHEN g.auto_score IS NOT NULL THEN g.auto_score + COALESCE(g.extra_credit, 0) ELSE 0 END")
_MAX_SCORE = text(
    "SELECT a.name, "
    " COALESCE((SELECT SUM(c.max_score) FROM grade_cells c JOIN base_cell b ON c.id = b.id"
    "           JOIN notebook n ON b.notebook_id = n.id WHERE n.assignment_id = a.id), 0)"
    " + COALESCE((SELECT SUM(c.max_score) FROM task_cells c JOIN base_cell b ON c.id = b.id"
    "           JOIN notebook n ON b.notebook_id = n.id WHERE n.assignment_id = a.id), 0) AS max_score,"
    " a.duedate FROM assignment a ORDER BY a.duedate, a.name"
)
_SCORES = text(
    "SELECT a.name AS assignment, s.student_id AS student,"
    f" COALESCE((SELECT SUM({_GRADE_SCORE}) FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id"
    "           WHERE sn.assignment_id = s.id), 0) AS raw_score,"
    " COALESCE((SELECT SUM(sn.late_submission_penalty) FROM submitted_notebook sn"
    "           WHERE sn.assignment_id = s.id), 0) AS penalty,"
    " COALESCE((SELECT MAX(CASE WHEN g.needs_manual_grade THEN 1 ELSE 0 END) FROM grade g"
    "           JOIN submitted_notebook sn ON g.notebook_id = sn.id WHERE sn.assignment_id = s.id), 0)"
    "   AS needs_manual"
    " FROM submitted_assignment s JOIN assignment a ON s.assignment_id = a.id"
)


class GradebookUnavailable(RuntimeError):
    """The course's gradebook cannot be read (no grader yet, no schema yet, database down)."""


def read_grades_sync(url: str) -> tuple[dict[str, float], dict[str, dict[str, StudentScore]], list[str]]:
    """({assignment: max score}, {assignment: {student: StudentScore}}, every student id) of a
    gradebook. A student's score is nbgrader's export score: raw score minus late penalty."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        if not inspect(engine).has_table("assignment"):
            raise GradebookUnavailable("the gradebook has no assignments yet (the course's formgrader creates it)")
        with engine.connect() as conn:
            maxima = {row.name: float(row.max_score or 0) for row in conn.execute(_MAX_SCORE)}
            scores: dict[str, dict[str, StudentScore]] = {name: {} for name in maxima}
            for row in conn.execute(_SCORES):
                score = max(0.0, float(row.raw_score or 0) - float(row.penalty or 0))
                scores.setdefault(row.assignment, {})[row.student] = StudentScore(
                    row.student, True, score, bool(row.needs_manual))
            students = [r[0] for r in conn.execute(text("SELECT id FROM student ORDER BY id"))]
        return maxima, scores, students
    except SQLAlchemyError as error:
        raise GradebookUnavailable(f"the gradebook cannot be read ({type(error).__name__})") from error
    finally:
        engine.dispose()


def feedback_counts(settings: Settings, course: str, assignments: Iterable[str]) -> dict[str, int]:
    """Students with generated feedback per assignment (nbgrader's feedback/{student}/{assignment})."""
    root = runtime.datastore(settings).local(f"courses/{course}/feedback")
    counts = dict.fromkeys(assignments, 0)
    try:
        students = os.listdir(root)
    except OSError:
        return counts
    for student in students:
        for assignment in counts:
            if os.path.isdir(os.path.join(root, student, assignment)):
                counts[assignment] += 1
    return counts


def source_assignments(settings: Settings, course: str) -> dict[str, float]:
    """{assignment: points} of the course's source folder (released or not): nbgrader's own
    source/{assignment}/*.ipynb, points summed from its grade and task cells as nbgrader does."""
    root = runtime.datastore(settings).local(f"courses/{course}/source")
    found: dict[str, float] = {}
    try:
        names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    except OSError:
        return found
    for name in names:
        points = 0.0
        for notebook in sorted(os.listdir(os.path.join(root, name))):
            if not notebook.endswith(".ipynb"):
                continue
            try:
                with open(os.path.join(root, name, notebook)) as handle:
                    cells = json.load(handle).get("cells", [])
            except (OSError, ValueError):
                continue
            for cell in cells:
                meta = (cell.get("metadata") or {}).get("nbgrader") or {}
                if meta.get("grade") or meta.get("task"):
                    points += float(meta.get("points") or 0)
        found[name] = points
    return found
