"""The coursehub tables in the hub database, their row types, and the engine they are used with.

``create_schema`` makes missing tables and applies the few in-place changes an older install's
tables need (``_MIGRATIONS``), idempotently: every hub start and every CLI call may run it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from . import dbcheck

UID_START = 20000
# How long an LTI 1.1 nonce must be remembered: the OAuth timestamp window (upstream refuses
# timestamps more than 30 s away from now, in both directions) plus slack for clock skew.
LTI11_NONCE_LIFETIME = 30 + 60
# Field sizes: anything longer is refused before it reaches the database.
MAX_NONCE_LENGTH = 128
MAX_KEY_LENGTH = 255

metadata = MetaData()

courses = Table(
    "coursehub_courses",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("context_key", String(1024), nullable=False, unique=True),
    Column("platform", String(MAX_KEY_LENGTH), nullable=False),
    Column("context_id", String(MAX_KEY_LENGTH), nullable=False),
    Column("label", String(MAX_KEY_LENGTH), nullable=False, default=""),
    Column("title", String(1024), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

uids = Table(
    "coursehub_uids",
    metadata,
    Column("username", String(MAX_KEY_LENGTH), primary_key=True),
    Column("uid", Integer, nullable=False, unique=True),
)

lti_nonces = Table(
    "coursehub_lti_nonces",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consumer_key", String(MAX_KEY_LENGTH), nullable=False),
    Column("nonce", String(MAX_NONCE_LENGTH), nullable=False),
    Column("timestamp", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    UniqueConstraint("consumer_key", "nonce", "timestamp", name="uq_coursehub_lti_nonce"),
    Index("ix_coursehub_lti_nonces_expires_at", "expires_at"),
)

lti13_states = Table(
    "coursehub_lti13_states",
    metadata,
    Column("state_id", String(64), primary_key=True),
    Column("nonce", String(MAX_NONCE_LENGTH), nullable=False, unique=True),
    Column("issuer", String(MAX_KEY_LENGTH), nullable=False),
    Column("client_id", String(MAX_KEY_LENGTH), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Index("ix_coursehub_lti13_states_created_at", "created_at"),
)


@dataclass(frozen=True)
class LTI13State:
    """The server-side half of one LTI 1.3 login: what the platform must echo back."""

    state_id: str
    nonce: str
    issuer: str
    client_id: str
    created_at: float
    used_at: float | None

    def expired(self, max_age: float, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) - self.created_at > max_age


@dataclass(frozen=True)
class CourseRow:
    course_id: str
    context_key: str
    platform: str
    context_id: str
    label: str
    title: str


def make_engine(db_url: str, autocommit: bool = False) -> Engine:
    """An engine usable from several threads, for SQLite too (dev and tests)."""
    kwargs: dict[str, Any] = {"pool_recycle": dbcheck.RECYCLE_SECONDS}
    if autocommit:
        kwargs["isolation_level"] = "AUTOCOMMIT"
    if db_url.startswith("sqlite"):
        # NOTE: SQLite serialises writers; wait for the lock instead of failing at once.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif db_url.startswith("postgresql"):
        # An unreachable database fails a launch in seconds, not after the TCP timeout.
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(db_url, **kwargs)
    # A connection closed by a Postgres restart is replaced before use (dbcheck.py).
    dbcheck.install(engine)
    return engine



# One row per provisioned course: the secrets its grader is (re)created with. The grader's uid
# and the course's gid live in ``uids`` only (names grader-{course} and course:{course}).
graders = Table(
    "coursehub_graders",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("api_token", String(128), nullable=False),
    Column("db_password", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The platform registry: one row per LTI 1.3 client of a platform (an issuer may have several:
# Canvas Cloud is one issuer for every school). Rows come from the settings file (source
# settings, rewritten at every hub start; the file wins on conflict) or from dynamic
# registration (source dynamic); a launch reads them, so a change needs no hub restart.
platforms = Table(
    "coursehub_platforms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_KEY_LENGTH), nullable=False, unique=True),
    Column("issuer", String(MAX_KEY_LENGTH), nullable=False),
    Column("client_id", String(MAX_KEY_LENGTH), nullable=False),
    # JSON list; empty for a dynamic registration whose LMS makes deployments at install time
    # (Canvas): its first launch's deployment is recorded.
    Column("deployment_ids", Text, nullable=False, default="[]"),
    Column("authorize_url", String(1024), nullable=False),
    Column("jwks_url", String(1024), nullable=False),
    Column("token_url", String(1024), nullable=False, default=""),
    Column("source", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("issuer", "client_id", name="uq_coursehub_platform_client"),
    Index("ix_coursehub_platforms_issuer", "issuer"),
)

# One-time secrets of the dynamic registration URL the admin pastes into the LMS.
registration_secrets = Table(
    "coursehub_registration_secrets",
    metadata,
    Column("secret", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("used_by", String(MAX_KEY_LENGTH), nullable=True),
)

# What the LMS said at launches, for the services that call it back later (grades, roster):
# one row per resource link of a course (its assignment, AGS and outcome endpoints) ...
lti_links = Table(
    "coursehub_lti_links",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("platform", String(MAX_KEY_LENGTH), primary_key=True),
    Column("resource_link_id", String(MAX_KEY_LENGTH), primary_key=True),
    Column("version", String(8), nullable=False),
    Column("client_id", String(MAX_KEY_LENGTH), nullable=False, default=""),
    Column("deployment_id", String(MAX_KEY_LENGTH), nullable=False, default=""),
    Column("assignment", String(128), nullable=False, default=""),
    Column("lineitems_url", String(2048), nullable=False, default=""),
    Column("lineitem_url", String(2048), nullable=False, default=""),
    Column("ags_scopes", Text, nullable=False, default=""),
    Column("outcome_url", String(2048), nullable=False, default=""),
    Column("memberships_url", String(2048), nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# ... one per person of a course (their LMS user id; names and email as the LMS shares them) ...
lti_members = Table(
    "coursehub_lti_members",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("username", String(MAX_KEY_LENGTH), primary_key=True),
    Column("platform", String(MAX_KEY_LENGTH), nullable=False),
    Column("version", String(8), nullable=False),
    Column("lms_user_id", String(MAX_KEY_LENGTH), nullable=False),
    Column("role", String(16), nullable=False),
    Column("given_name", String(256), nullable=False, default=""),
    Column("family_name", String(256), nullable=False, default=""),
    Column("email", String(256), nullable=False, default=""),
    # active; inactive (the LMS's roster says so); left (no longer in the LMS's roster). A
    # member is never deleted: their work and grades stay.
    Column("status", String(16), nullable=False, default="active"),
    Column("last_launch", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# ... and one per student per LTI 1.1 link: the grade slot (lis_result_sourcedid) of that link.
outcome_slots = Table(
    "coursehub_outcome_slots",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("username", String(MAX_KEY_LENGTH), primary_key=True),
    Column("platform", String(MAX_KEY_LENGTH), primary_key=True),
    Column("resource_link_id", String(MAX_KEY_LENGTH), primary_key=True),
    Column("sourcedid", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# The line item coursehub sends an assignment's scores to, per platform client.
lineitems = Table(
    "coursehub_lineitems",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("assignment", String(128), primary_key=True),
    Column("platform", String(MAX_KEY_LENGTH), primary_key=True),
    Column("client_id", String(MAX_KEY_LENGTH), primary_key=True),
    Column("lineitem_url", String(2048), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# Every grade send: what, when, and what the LMS answered (a resend compares with the last).
grade_sends = Table(
    "coursehub_grade_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("course_id", String(64), nullable=False),
    Column("assignment", String(128), nullable=False),
    Column("username", String(MAX_KEY_LENGTH), nullable=False),
    Column("version", String(8), nullable=False, default=""),
    Column("target", String(2048), nullable=False, default=""),
    Column("score_given", Float, nullable=True),
    Column("score_maximum", Float, nullable=True),
    # sent, failed, impossible, skip
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Index("ix_coursehub_grade_sends_course", "course_id", "assignment", "username"),
)
# Every roster sync of a course (NRPS): when, how it went, what it found.
roster_syncs = Table(
    "coursehub_roster_syncs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("course_id", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("members", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
    Index("ix_coursehub_roster_syncs_course", "course_id", "id"),
)

# Per-course choices made on the course page (e.g. send grades when feedback is released).
course_options = Table(
    "coursehub_course_options",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("send_on_feedback", Boolean, nullable=True),
)

# Changes to tables an older coursehub created: (table, column that must go). Before 0.2 the
# graders table kept a copy of the two ids, which could disagree with ``uids``.
_DROPPED_COLUMNS = (("coursehub_graders", "grader_uid"), ("coursehub_graders", "course_gid"))


def create_schema(engine: Engine) -> None:
    """Creates the missing tables and applies _DROPPED_COLUMNS; safe to run concurrently."""
    try:
        metadata.create_all(engine, checkfirst=True)
    except (IntegrityError, OperationalError, ProgrammingError):
        # Another process created them between the check and the CREATE.
        metadata.create_all(engine, checkfirst=True)
    existing = inspect(engine)
    for table, column in _DROPPED_COLUMNS:
        if column in {c["name"] for c in existing.get_columns(table)}:
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            except (OperationalError, ProgrammingError):
                # Dropped by another process a moment ago.
                pass
