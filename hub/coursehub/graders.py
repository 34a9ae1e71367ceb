"""Per-course grader services: provisions a course (ids, folders, gradebook, hub roles, the
grader container and its JupyterHub service) and brings graders back before the hub starts.

A course's formgrader is an *external* JupyterHub service named exactly as the course, because
nbgrader's course list finds it by that name (server_extensions/course_list/handlers.py) and
links to ``/services/{course}/lab?formgrader=true``. It runs ``jupyterhub-singleuser`` in the
grader image under the course's grader uid and the course group, with the course directory as
its root (nbgrader's formgrader refuses a course root outside the server root).

Pure planning (names, scopes, the container plan, the service spec) is separate from the
adapters (Postgres, Docker, the hub API, the hub's ORM) so that the plan is unit-tested as data.
Every step is idempotent: a retry after a failure finishes the job, and two launches of a new
course at once provision it once (a per-course lock in the hub, unique keys in the database,
"already exists" answers of Postgres, Docker and the hub treated as success).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from .courses import grader_name, instructor_group, student_group
from .logline import duration_ms, logline
from .policy import COURSE_ROOT, HOME
from .settings import Settings

# A child of the hub's own logger: a logger of its own had no handler in the hub process, so
# the grader, roster and provisioning lines never reached the hub's log.
log = logging.getLogger("JupyterHub").getChild("coursehub.graders")

GRADER_PORT = 8888
GRADER_HOME = "/home/jovyan"
ROSTER_DIR = "/srv/coursehub/roster"
HUB_API_INSIDE_HUB = "http://127.0.0.1:8081/hub/api"
# How long the hub's POST /services waits for a new grader to answer (JupyterHub's default
# Service.timeout; it polls the service URL until then).
SERVICE_TIMEOUT = 30
# A formgrader runs nbgrader's autograder (kernels per notebook): more processes than a server.
GRADER_PIDS_LIMIT = 1024

metadata = MetaData()

# One row per provisioned course: the ids and secrets its grader is (re)created with, so that a
# restart reuses the token the hub already knows and the password the gradebook role has.
graders_table = Table(
    "coursehub_graders",
    metadata,
    Column("course_id", String(64), primary_key=True),
    Column("grader_uid", Integer, nullable=False),
    Column("course_gid", Integer, nullable=False),
    Column("api_token", String(128), nullable=False),
    Column("db_password", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class GraderRecord:
    course_id: str
    grader_uid: int
    course_gid: int
    api_token: str
    db_password: str


# -- names and scopes (pure) -----------------------------------------------------------------
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


def gradebook_url(settings: Settings, course: str, password: str) -> str:
    """The gradebook the grader uses: its own database and role on the hub's Postgres; with a
    SQLite hub database (development), a SQLite file in the course directory."""
    hub = make_url(settings.db_url)
    if not hub.drivername.startswith("postgresql"):
        return f"sqlite:///{COURSE_ROOT}/gradebook.db"
    name = gradebook_name(course)
    return hub.set(username=name, password=password, database=name).render_as_string(
        hide_password=False
    )


# -- the container plan (pure) ---------------------------------------------------------------
@dataclass(frozen=True)
class GraderPlan:
    """What the grader container of one course is created with."""

    name: str
    image: str
    user: str
    environment: Mapping[str, str]
    # source relative to the data root -> (target, mode for ensure_dir or None = provisioned)
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


def plan_grader(settings: Settings, record: GraderRecord) -> GraderPlan:
    from .apply import frame_ancestors

    course = record.course_id
    env = {
        "JUPYTERHUB_SERVICE_NAME": course,
        "JUPYTERHUB_API_TOKEN": record.api_token,
        "JUPYTERHUB_API_URL": f"http://{settings.hub_connect_host}:8081/hub/api",
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
        "NBGRADER_DB_URL": gradebook_url(settings, course, record.db_password),
        "COURSEHUB_FRAME_ANCESTORS": frame_ancestors(settings),
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


# -- registry of graders (blocking; SQLAlchemy on the hub database) --------------------------
def _engine(settings: Settings):
    from . import runtime

    engine = runtime.store(settings).engine
    if engine.url not in _created:
        with _create_lock:
            if engine.url not in _created:
                try:
                    metadata.create_all(engine, checkfirst=True)
                except (OperationalError, ProgrammingError, IntegrityError):
                    # Another process created the table between the check and the CREATE.
                    metadata.create_all(engine, checkfirst=True)
                _created.add(engine.url)
    return engine


_created: set = set()
_create_lock = threading.Lock()


def get_record_sync(settings: Settings, course: str) -> GraderRecord | None:
    with _engine(settings).connect() as conn:
        row = conn.execute(select(graders_table).where(graders_table.c.course_id == course)).first()
    return _record(row) if row else None


def all_records_sync(settings: Settings) -> list[GraderRecord]:
    with _engine(settings).connect() as conn:
        return [_record(r) for r in conn.execute(select(graders_table).order_by("course_id"))]


def ensure_record_sync(settings: Settings, course: str) -> GraderRecord:
    """The course's grader record, created once: the first writer wins a race, the others read."""
    from . import runtime

    found = get_record_sync(settings, course)
    if found:
        return found
    store = runtime.store(settings)
    grader_uid = store.allocate_uid_sync(grader_name(course))
    course_gid = store.allocate_uid_sync(f"course:{course}")
    try:
        with _engine(settings).begin() as conn:
            conn.execute(insert(graders_table).values(
                course_id=course, grader_uid=grader_uid, course_gid=course_gid,
                api_token=secrets.token_hex(32), db_password=secrets.token_urlsafe(24),
                created_at=datetime.now(timezone.utc),
            ))
    except IntegrityError:
        pass
    found = get_record_sync(settings, course)
    assert found is not None
    return found


def _record(row: Any) -> GraderRecord:
    return GraderRecord(row.course_id, row.grader_uid, row.course_gid, row.api_token, row.db_password)


# -- adapters: folders, gradebook, container -------------------------------------------------
def ensure_folders_sync(settings: Settings, record: GraderRecord) -> None:
    from . import runtime

    data = runtime.datastore(settings)
    data.ensure_course(record.course_id, record.grader_uid, record.course_gid)
    data.ensure_dir(f"graders/{record.course_id}", record.grader_uid, record.course_gid, 0o700)
    data.ensure_dir(f"rosters/{record.course_id}", 0, 0, 0o755)
    add_passwd_entries_sync(settings, record.course_id, {
        grader_name(record.course_id): (record.grader_uid, record.course_gid, GRADER_HOME),
    })


_passwd_lock = threading.Lock()


def passwd_line(name: str, uid: int, gid: int, home: str) -> str:
    return f"{name}:x:{uid}:{gid}:{name}:{home}:/usr/sbin/nologin\n"


def add_passwd_entries_sync(settings: Settings, course: str, entries: Mapping[str, tuple]) -> None:
    """Adds users to the course's roster passwd (rosters/{course}/passwd, root-owned, 0644),
    replacing the file atomically; names already there are kept as they are."""
    from . import runtime

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


def ensure_gradebook_sync(settings: Settings, record: GraderRecord) -> None:
    """The course's own Postgres role and database; nobody else may connect to them, and the
    grader's role may not connect to the hub's database (instructors can read the grader's
    environment from a formgrader terminal)."""
    hub = make_url(settings.db_url)
    if not hub.drivername.startswith("postgresql"):
        return
    from sqlalchemy import create_engine

    name = gradebook_name(record.course_id)
    engine = create_engine(hub, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
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


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def _ignore_duplicate(conn, sql: str) -> None:
    from sqlalchemy.exc import ProgrammingError

    try:
        conn.execute(text(sql))
    except ProgrammingError as error:
        # A concurrent provisioning created it between our check and this statement.
        if "already exists" not in str(error):
            raise


def ensure_grader_sync(settings: Settings, plan: GraderPlan) -> str:
    """Runs the course's grader as the stack's mode wants it: a container (compose) or a swarm
    service (swarm.ensure_grader_service_sync). Returns what was done (created, running...)."""
    if settings.mode == "swarm":
        from .swarm import ensure_grader_service_sync

        return ensure_grader_service_sync(settings, plan)
    return ensure_container_sync(settings, plan)


def existing(collection, name: str):
    """``collection.get(name)`` (docker-py containers or services), or None if there is none."""
    from docker.errors import NotFound

    try:
        return collection.get(name)
    except NotFound:
        return None


def is_current(labels: Mapping[str, str] | None, plan: GraderPlan) -> bool:
    """Whether a grader container or service was made from this very plan."""
    return (labels or {}).get("coursehub.fingerprint") == plan.labels["coursehub.fingerprint"]


def ensure_container_sync(settings: Settings, plan: GraderPlan, client=None) -> str:
    """Creates the grader container, or starts it, or recreates it when its plan changed.
    Returns what it did: created, recreated, started or running."""
    from docker.errors import APIError

    from . import runtime

    client = client or runtime.docker_client()
    data = runtime.datastore(settings)
    action = "created"
    container = existing(client.containers, plan.name)
    if container is not None:
        if is_current(container.labels, plan):
            if container.status == "running":
                return "running"
            container.start()
            return "started"
        container.remove(force=True)
        action = "recreated"
    volumes = {
        data.host(src): {"bind": dst, "mode": "ro" if read_only else "rw"}
        for src, dst, read_only in plan.binds()
    }
    try:
        container = client.containers.create(
            plan.image,
            name=plan.name,
            hostname=plan.name,
            user=plan.user,
            environment=dict(plan.environment),
            labels=dict(plan.labels),
            volumes=volumes,
            network=plan.network,
            restart_policy={"Name": "unless-stopped"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=GRADER_PIDS_LIMIT,
            init=False,
        )
    except APIError as error:
        if error.status_code != 409:
            raise
        # Another provisioning of the same course created it a moment ago.
        container = client.containers.get(plan.name)
    try:
        container.start()
    except APIError as error:
        if error.status_code != 304:
            raise
    return action


# -- adapters: the hub (in-process ORM and REST API) -----------------------------------------
def ensure_hub_roles(db, course: str, service_name: str | None = None) -> None:
    """Creates the course's roles in the hub database and grants them.

    NOTE: JupyterHub has no REST API to create roles. Roles from `load_roles` config are
    deleted at startup when absent from the config; roles marked managed_by_auth survive
    (app.py init_role_assignment, with reset_managed_roles_on_startup False), so these do.
    """
    from jupyterhub import orm, roles

    for group_name in (instructor_group(course), student_group(course)):
        if orm.Group.find(db, group_name) is None:
            db.add(orm.Group(name=group_name))
            db.commit()
    # The grader account: a hub user that never logs in (no password, no LTI identity: LTI
    # usernames always end in a hash), member of formgrade-{course} so that nbgrader's
    # JupyterHubAuthPlugin finds the course among the grader's courses.
    account = orm.User.find(db, grader_name(course))
    if account is None:
        account = orm.User(name=grader_name(course))
        db.add(account)
        db.commit()
    staff = orm.Group.find(db, instructor_group(course))
    if staff not in account.groups:
        account.groups.append(staff)
        db.commit()
    fg = roles.create_role(db, formgrader_role(course))
    roles.grant_role(db, orm.Group.find(db, instructor_group(course)), fg, managed=True)
    if service_name:
        service = orm.Service.find(db, service_name)
        if service is not None:
            own = roles.create_role(db, grader_service_role(course))
            roles.grant_role(db, service, own, managed=True)


async def register_service(settings: Settings, course: str, api_token: str,
                           api_url: str = HUB_API_INSIDE_HUB) -> str:
    """POST /hub/api/services/{course}; an existing service with the same URL is kept, one
    with another URL (renamed stack) is replaced. Returns created, exists or replaced."""
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError

    client = AsyncHTTPClient()
    headers = {"Authorization": f"token {settings.api_token}", "Content-Type": "application/json"}
    url = f"{api_url}/services/{course}"
    result = "created"
    try:
        existing = await client.fetch(url, headers=headers, request_timeout=20)
        if json.loads(existing.body).get("url") == service_url(settings, course):
            return "exists"
        await client.fetch(url, method="DELETE", headers=headers, request_timeout=20)
        result = "replaced"
    except HTTPClientError as error:
        if error.code != 404:
            raise
    body = json.dumps(service_spec(settings, course, api_token))
    try:
        await client.fetch(url, method="POST", headers=headers, body=body,
                           request_timeout=SERVICE_TIMEOUT + 30)
    except HTTPClientError as error:
        if error.code != 409:
            raise
        return "exists"
    return result


# -- the one entry point of the hub ----------------------------------------------------------
_locks: dict[str, asyncio.Lock] = {}
_ready: set[str] = set()


async def ensure_route(handler, course: str) -> None:
    """Adds the service's proxy route now.

    NOTE: JupyterHub 6.1.1's POST /api/services registers a service but adds no proxy route;
    the next check_routes (every last_activity_interval, 5 min) would. Adding a route that
    exists replaces it with the same target, so this is idempotent.
    """
    service = handler.services.get(course)
    if service is not None and service.server is not None:
        await handler.proxy.add_service(service)


async def ensure_course(course: str, settings: Settings, handler) -> GraderRecord:
    """Provisions ``course`` end to end; fast when it already is (checked once per process).

    ``handler`` is a hub request handler: roles are written with its ORM session
    (``handler.db``; JupyterHub has no REST API for roles) and the proxy route is added with
    its ``proxy``; the service itself is registered through the REST API.
    """
    db = handler.db
    if course in _ready:
        return await asyncio.to_thread(get_record_sync, settings, course)
    lock = _locks.setdefault(course, asyncio.Lock())
    async with lock:
        if course in _ready:
            return await asyncio.to_thread(get_record_sync, settings, course)
        started = asyncio.get_running_loop().time()
        record = await asyncio.to_thread(ensure_record_sync, settings, course)
        await asyncio.to_thread(ensure_folders_sync, settings, record)
        await add_earlier_students(settings, db, course)
        await asyncio.to_thread(ensure_gradebook_sync, settings, record)
        ensure_hub_roles(db, course)
        action = await asyncio.to_thread(ensure_grader_sync, settings, plan_grader(settings, record))
        service = await register_service(settings, course, record.api_token)
        # The service's role can be granted only once the service exists.
        db.expire_all()
        ensure_hub_roles(db, course, service_name=course)
        await ensure_route(handler, course)
        _ready.add(course)
        log.info(logline("grader", course=course, container=action, service=service,
                         duration_ms=duration_ms(started, asyncio.get_running_loop().time())))
        return record


async def add_earlier_students(settings: Settings, db, course: str) -> int:
    """Roster passwd lines for the students who launched ``course`` before it had a grader
    (members of its nbgrader group); their gradebook rows follow at their next launch."""
    from jupyterhub import orm

    group = orm.Group.find(db, student_group(course))
    names = sorted(user.name for user in group.users) if group is not None else []
    await add_students_to_passwd(settings, course, names)
    return len(names)


async def add_students_to_passwd(settings: Settings, course: str, names) -> None:
    """The course's roster passwd lines for these hub users, with the uids their servers run as."""
    from . import runtime

    store = runtime.store(settings)
    entries = {name: (uid, uid, HOME) for name in names for uid in [await store.allocate_uid(name)]}
    if entries:
        await asyncio.to_thread(add_passwd_entries_sync, settings, course, entries)


# -- the roster ------------------------------------------------------------------------------
_UPSERT_STUDENT = text(
    "INSERT INTO student (id, first_name, last_name, email, lms_user_id) "
    "VALUES (:id, :first_name, :last_name, :email, :lms_user_id) "
    "ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name, "
    "last_name = excluded.last_name, email = excluded.email, lms_user_id = excluded.lms_user_id"
)


def roster_url(settings: Settings, course: str) -> str:
    """The gradebook as the hub reaches it (with the hub's own Postgres account)."""
    from . import runtime

    hub = make_url(settings.db_url)
    if not hub.drivername.startswith("postgresql"):
        return f"sqlite:///{runtime.datastore(settings).local(f'courses/{course}/gradebook.db')}"
    return hub.set(database=gradebook_name(course)).render_as_string(hide_password=False)


def upsert_student_sync(url: str, student: Mapping[str, str]) -> bool:
    """Adds or updates one student in nbgrader's `student` table; False while the gradebook has
    no schema yet (the grader creates it when it starts).

    NOTE: plain SQL on nbgrader's table, not nbgrader's Gradebook: nbgrader is not installed in
    the hub, and a docker exec of `nbgrader db student add` costs seconds per launch. The
    table's columns (id, first_name, last_name, email, lms_user_id) are nbgrader's since 0.7.
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.pool import NullPool

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


async def add_student(settings: Settings, launch) -> bool:
    """The student of a launch in the course's gradebook roster (names and LMS id for exports)."""
    student = {
        "id": launch.username,
        "first_name": launch.given_name,
        "last_name": launch.family_name,
        "email": launch.email,
        "lms_user_id": launch.lms_user_id,
    }
    from . import runtime

    if not os.path.isdir(runtime.datastore(settings).local(f"rosters/{launch.course_id}")):
        # No staff member has opened the course yet, so it has no grader or gradebook; the
        # first staff launch provisions it and adds the students who came before.
        log.info(logline("roster", action="deferred", user=launch.username, course=launch.course_id,
                         reason="the course has no grader yet"))
        return False
    try:
        await add_students_to_passwd(settings, launch.course_id, [launch.username])
        url = await asyncio.to_thread(roster_url, settings, launch.course_id)
        return await asyncio.to_thread(upsert_student_sync, url, student)
    except Exception:  # noqa: BLE001 - the roster is a convenience; never fail a launch on it
        log.exception(logline("roster", action="failed", user=launch.username, course=launch.course_id))
        return False


# -- before the hub starts -------------------------------------------------------------------
def start_all_sync(settings: Settings) -> dict[str, str]:
    """Starts (or creates) every known course's grader; needs Docker and Postgres, not the hub.

    The hub waits up to 30 s for each registered service URL at startup, so graders must be up
    before it, or each dead one delays it.
    """
    results = {}
    for record in all_records_sync(settings):
        try:
            ensure_folders_sync(settings, record)
            ensure_gradebook_sync(settings, record)
            results[record.course_id] = ensure_grader_sync(settings, plan_grader(settings, record))
        except Exception as error:  # noqa: BLE001 - one broken course must not stop the others
            results[record.course_id] = f"failed: {error}"
    return results


# -- CLI entry points (wired by cli.py) -----------------------------------------------------
def graders_start_cli(args) -> int:
    """`coursehub graders start`: one line per course; exit 0 even when some failed, so that
    the hub still starts (a failed grader only delays it)."""
    from .cli import _settings

    results = start_all_sync(_settings())
    for course, action in sorted(results.items()):
        print(f"grader {course}: {action}")
    if not results:
        print("no courses yet")
    return 0


def add_course_cli(args) -> int:
    """`coursehub course add LABEL [--context-id ID] [--platform P] [--title T]`: registers a
    course (as an LMS launch would) and asks the running hub to provision it."""
    import urllib.error
    import urllib.request

    from . import runtime
    from .cli import _settings
    from .courses import context_key, resolve_course_id
    from .store import CourseRow

    settings = _settings()
    store = runtime.store(settings)
    platform = getattr(args, "platform", "") or "cli"
    context_id = getattr(args, "context_id", "") or args.label
    title = getattr(args, "title", "") or args.label
    key = context_key(platform, context_id)
    row = store.course_for_context_sync(key)
    if row is None:
        course = resolve_course_id(platform, context_id, args.label, title,
                                   store.course_registry_sync(), settings.course_id_source)
        store.add_course_sync(CourseRow(course, key, platform, context_id, args.label, title))
        row = store.course_for_context_sync(key)
    request = urllib.request.Request(
        f"{HUB_API_INSIDE_HUB.rsplit('/api', 1)[0]}/coursehub/api/courses/{row.course_id}",
        method="POST", data=b"{}",
        headers={"Authorization": f"token {settings.api_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            print(response.read().decode())
    except urllib.error.URLError as error:
        print(f"course {row.course_id} registered, but the hub did not provision it: {error}")
        return 1
    return 0


def add_cli_parsers(sub) -> None:
    """Adds `course add` and `graders start` to the coursehub argument parser."""
    course = sub.add_parser("course", help="manage courses").add_subparsers(dest="course_cmd", required=True)
    add = course.add_parser("add", help="register and provision a course without an LMS launch")
    add.add_argument("label", help="course label (short name); the course id is derived from it")
    add.add_argument("--context-id", default="", help="the LMS course id (default: the label)")
    add.add_argument("--platform", default="", help="LTI 1.1 consumer key or LTI 1.3 issuer (default: cli)")
    add.add_argument("--title", default="")
    add.set_defaults(func=add_course_cli)
    graders = sub.add_parser("graders", help="per-course grader containers").add_subparsers(
        dest="graders_cmd", required=True)
    start = graders.add_parser("start", help="start every course's grader (before the hub)")
    start.set_defaults(func=graders_start_cli)


# -- the provisioning endpoint for the CLI ---------------------------------------------------
def provision_handler():
    """POST /hub/coursehub/api/courses/{course}: provisions a registered course (scope
    admin:services, i.e. the coursehub service token). Built lazily: JupyterHub imports."""
    from jupyterhub.apihandlers.base import APIHandler
    from jupyterhub.scopes import needs_scope
    from tornado import web

    from . import runtime

    class ProvisionCourseHandler(APIHandler):
        def initialize(self, coursehub_settings):
            self.coursehub_settings = coursehub_settings

        @needs_scope("admin:services")
        async def post(self, course: str):
            settings = self.coursehub_settings
            if await runtime.store(settings).get_course(course) is None:
                raise web.HTTPError(404, f"unknown course {course}; register it first")
            record = await ensure_course(course, settings, self)
            self.write(json.dumps({
                "course": course,
                "service": f"/services/{course}/",
                "grader_uid": record.grader_uid,
                "course_gid": record.course_gid,
            }))

    return ProvisionCourseHandler
