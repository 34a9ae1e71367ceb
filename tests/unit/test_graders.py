"""Unit tests of the grader plan (core/graderplan.py) and grading/: names, scopes, the service spec, the container plan, the
grader registry and roster on SQLite, and the hub roles on JupyterHub's own ORM (in memory).
No Docker, no Postgres, no running hub."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from jupyterhub import orm, roles
from jupyterhub.scopes import _check_scopes_exist, get_scopes_for
from jupyterhub.apihandlers.base import APIHandler
from sqlalchemy import create_engine, text

from coursehub.core import graderplan
from coursehub.grading import gradebook, hubside, provision, roster
from coursehub.storage import runtime
from coursehub.core.settingsfile import SECRET_ENV, load_settings

RECORD = graderplan.GraderRecord("ds101", 20010, 20011, "t" * 64, "pw")


def make_settings(db_url="postgresql://coursehub:secret@postgres:5432/jupyterhub", public_url=""):
    env = {name: f"fake-{name.lower()}-0123456789abcdef" for name in SECRET_ENV}
    env["COURSEHUB_LTI11_CONSUMERS"] = "moodle:fake-secret-0123456789"
    env["COURSEHUB_STACK"] = "ch"
    env["COURSEHUB_NETWORK"] = "ch"
    env["COURSEHUB_DB_URL"] = db_url
    if public_url:
        env["COURSEHUB_PUBLIC_URL"] = public_url
    return load_settings(env=env, settings_text="grader: {image: coursehub/grader:9}\n")


@pytest.fixture
def settings():
    return make_settings()


def test_names():
    assert graderplan.gradebook_name("data-sci-1") == "gradebook_data_sci_1"
    assert graderplan.container_name(make_settings(), "ds101") == "ch-grader-ds101"


@pytest.mark.parametrize("role", [graderplan.formgrader_role("a-b1"), graderplan.grader_service_role("a-b1")])
def test_roles_are_valid_for_jupyterhub(role):
    roles._validate_role_name(role["name"])
    _check_scopes_exist(role["scopes"])
    assert role["managed_by_auth"] is True, "config-less roles must be managed_by_auth to survive a restart"


def test_formgrader_role_opens_only_its_service():
    assert graderplan.formgrader_role("ds101")["scopes"] == ["access:services!service=ds101"]


def test_grader_token_touches_only_its_student_group_and_account():
    for scope in graderplan.grader_service_role("ds101")["scopes"]:
        assert scope.endswith(("!group=nbgrader-ds101", "!user=grader-ds101")), scope


def test_service_spec_keys_are_accepted_by_the_rest_api(settings):
    spec = graderplan.service_spec(settings, "ds101", "tok")
    accepted = APIHandler._service_model_types
    assert set(spec) <= set(accepted), set(spec) - set(accepted)
    assert all(isinstance(value, accepted[key]) for key, value in spec.items())
    assert spec["url"] == "http://ch-grader-ds101:8888"
    assert spec["oauth_client_id"] == "service-ds101"
    assert spec["oauth_no_confirm"] is True


def test_gradebook_url_is_the_courses_own_database_and_role(settings):
    url = gradebook.gradebook_url(settings, "ds-101", "p@ss")
    assert url == "postgresql://gradebook_ds_101:p%40ss@postgres:5432/gradebook_ds_101"


def test_gradebook_url_on_sqlite_lives_in_the_course_dir():
    assert gradebook.gradebook_url(make_settings("sqlite:///x.db"), "ds101", "pw") == \
        "sqlite:////srv/nbgrader/course/gradebook.db"


def test_plan(settings):
    plan = provision.grader_plan(settings, RECORD)
    env = plan.environment
    assert plan.name == "ch-grader-ds101"
    assert plan.image == "coursehub/grader:9"
    assert plan.user == "20010:20011"
    assert plan.network == "ch"
    assert plan.labels["coursehub.stack"] == "ch"
    assert plan.labels["coursehub.grader"] == "ds101"
    assert env["JUPYTERHUB_SERVICE_NAME"] == env["NBGRADER_COURSE_ID"] == "ds101"
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == "/services/ds101/"
    assert env["JUPYTERHUB_CLIENT_ID"] == "service-ds101"
    assert env["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api"
    assert env["JUPYTERHUB_API_TOKEN"] == RECORD.api_token
    assert env["JUPYTERHUB_USER"] == "grader-ds101"
    # nbgrader's formgrader needs the course root inside the server root.
    assert env["JUPYTERHUB_ROOT_DIR"] == env["NBGRADER_COURSE_ROOT"] == "/srv/nbgrader/course"
    assert env["NBGRADER_DB_URL"].startswith("postgresql://gradebook_ds101:pw@")
    assert "JUPYTERHUB_COOKIE_OPTIONS" not in env
    assert dict(plan.mounts) == {
        "courses/ds101": "/srv/nbgrader/course",
        "exchange/ds101": "/srv/nbgrader/exchange/ds101",
        "graders/ds101": "/home/jovyan",
        "rosters/ds101": "/srv/coursehub/roster",
    }
    # nbgrader's collect resolves submission owners through the roster passwd.
    assert env["NSS_WRAPPER_PASSWD"] == "/srv/coursehub/roster/passwd"


def test_passwd_lines_name_hub_users_without_a_login_shell():
    line = roster.passwd_line("hanako-1a2b3c", 20012, 20012, "/home/jovyan")
    assert line == "hanako-1a2b3c:x:20012:20012:hanako-1a2b3c:/home/jovyan:/usr/sbin/nologin\n"


def test_plan_over_https_sets_cookie_options():
    plan = provision.grader_plan(make_settings(public_url="https://hub.example.edu"), RECORD)
    assert '"samesite": "None"' in plan.environment["JUPYTERHUB_COOKIE_OPTIONS"]


def test_fingerprint_follows_the_container(settings):
    one = provision.grader_plan(settings, RECORD)
    assert one.labels["coursehub.fingerprint"] == provision.grader_plan(settings, RECORD).labels["coursehub.fingerprint"]
    other = provision.grader_plan(settings, graderplan.GraderRecord("ds101", 20010, 20011, "u" * 64, "pw"))
    assert one.labels["coursehub.fingerprint"] != other.labels["coursehub.fingerprint"]


@pytest.fixture
def sqlite_settings(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path}/hub.sqlite")
    yield settings
    runtime.forget_stores()


def test_registry_allocates_once_and_ids_never_collide(sqlite_settings):
    with ThreadPoolExecutor(8) as pool:
        records = list(pool.map(lambda _: runtime.store(sqlite_settings).ensure_grader_record_sync("ds101"), range(8)))
    assert len(set(records)) == 1
    record = records[0]
    other = runtime.store(sqlite_settings).ensure_grader_record_sync("ml202")
    ids = {record.grader_uid, record.course_gid, other.grader_uid, other.course_gid}
    assert len(ids) == 4
    assert record.api_token != other.api_token and len(record.api_token) == 64
    assert [r.course_id for r in runtime.store(sqlite_settings).all_grader_records_sync()] == ["ds101", "ml202"]
    # The course group is the one user servers of the course get (spawners.plans.ids_for).
    assert runtime.store(sqlite_settings).allocate_uid_sync("course:ds101") == record.course_gid


def test_roster_waits_for_the_schema_then_upserts(tmp_path):
    url = f"sqlite:///{tmp_path}/gradebook.db"
    student = {"id": "hanako-1a2b3c", "first_name": "Hanako", "last_name": "Yamada",
               "email": "h@example.edu", "lms_user_id": "42"}
    assert gradebook.upsert_student_sync(url, student) is False
    engine = create_engine(url)
    with engine.begin() as conn:  # nbgrader's student table, as Gradebook() creates it
        conn.execute(text("CREATE TABLE student (id VARCHAR(128) PRIMARY KEY, first_name VARCHAR(128), "
                          "last_name VARCHAR(128), email VARCHAR(128), lms_user_id VARCHAR(128))"))
    assert gradebook.upsert_student_sync(url, student) is True
    assert gradebook.upsert_student_sync(url, {**student, "last_name": "Sato", "email": ""}) is True
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, last_name, email FROM student")).all()
    # A new name wins; an LMS that shares no email (a roster under privacy settings) keeps the one known.
    assert rows == [("hanako-1a2b3c", "Sato", "h@example.edu")]


@pytest.fixture
def hub_db():
    db = orm.new_session_factory("sqlite://")()
    for role in roles.get_default_roles():
        roles.create_role(db, role)
    yield db
    db.close()


def test_hub_roles_are_idempotent_and_scoped(hub_db):
    hubside.ensure_hub_roles(hub_db, "ds101")
    hubside.ensure_hub_roles(hub_db, "ds101")
    group = orm.Group.find(hub_db, "formgrade-ds101")
    assert [r.name for r in group.roles] == ["formgrader-ds101"]
    assert orm.Group.find(hub_db, "nbgrader-ds101") is not None
    assert orm.Role.find(hub_db, "formgrader-ds101").managed_by_auth
    assert [g.name for g in orm.User.find(hub_db, "grader-ds101").groups] == ["formgrade-ds101"]
    # A member of the group gets into this formgrader only.
    user = orm.User(name="prof")
    hub_db.add(user)
    user.groups.append(group)
    hub_db.commit()
    scopes = get_scopes_for(user)
    assert "access:services!service=ds101" in scopes
    assert not any(s.startswith("access:services!service=") and s != "access:services!service=ds101"
                   for s in scopes)


def test_service_role_is_granted_once_the_service_exists(hub_db):
    hubside.ensure_hub_roles(hub_db, "ds101", service_name="ds101")
    assert orm.Role.find(hub_db, "grader-ds101") is None
    hub_db.add(orm.Service(name="ds101"))
    hub_db.commit()
    hubside.ensure_hub_roles(hub_db, "ds101", service_name="ds101")
    hubside.ensure_hub_roles(hub_db, "ds101", service_name="ds101")
    service = orm.Service.find(hub_db, "ds101")
    assert [r.name for r in service.roles] == ["grader-ds101"]
