"""Course group membership on a real JupyterHub ORM (SQLite in memory): the rows must be the
ones User.sync_groups writes, with fewer statements."""

import pytest
from jupyterhub import orm
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from coursehub.lti.groups import CourseGroups, course_membership


@pytest.mark.parametrize("current,role,join,leave", [
    (set(), "student", "nbgrader-cs1", set()),
    ({"nbgrader-cs1"}, "student", None, set()),
    ({"nbgrader-cs1"}, "ta", "formgrade-cs1", {"nbgrader-cs1"}),
    ({"formgrade-cs1"}, "instructor", None, set()),
    ({"formgrade-cs1", "nbgrader-bio"}, "student", "nbgrader-cs1", {"formgrade-cs1"}),
    # both of this course's groups (an old double membership): keep only the role's
    ({"formgrade-cs1", "nbgrader-cs1"}, "student", None, {"formgrade-cs1"}),
    ({"nbgrader-cs10", "formgrade-cs1x"}, "student", "nbgrader-cs1", set()),
])
def test_course_membership(current, role, join, leave):
    assert course_membership(current, "cs1", role) == (join, frozenset(leave))


@pytest.fixture
def db():
    session = orm.new_session_factory("sqlite://")()
    yield session
    session.close()


@pytest.fixture
def statements(db):
    seen = []

    def record(conn, cursor, statement, *args):
        if statement.strip() != "SELECT 1":  # JupyterHub's connection ping; the hub drops it (dbcheck)
            seen.append(statement.split()[0])

    event.listen(db.get_bind(), "before_cursor_execute", record)
    yield seen
    event.remove(db.get_bind(), "before_cursor_execute", record)


def add_user(db, name, groups=()):
    user = orm.User(name=name)
    user.groups = [orm.Group.find(db, g) or orm.Group(name=g) for g in groups]
    db.add(user)
    db.commit()
    return user


def memberships(db):
    """What the database holds, read through a fresh session."""
    db.expire_all()
    return {u.name: sorted(g.name for g in u.groups) for u in db.query(orm.User)}


def test_same_rows_as_sync_groups(db):
    groups = CourseGroups()
    alice = add_user(db, "alice", ["nbgrader-bio", "formgrade-cs1"])
    bob = add_user(db, "bob", ["nbgrader-bio", "formgrade-cs1"])
    assert groups.apply(db, alice, "cs1", "student")
    # JupyterHub's way for bob: the whole wanted set
    from jupyterhub.user import User

    User(bob, {"db": db}).sync_groups(["nbgrader-bio", "nbgrader-cs1"])
    found = memberships(db)
    assert found["alice"] == found["bob"] == ["nbgrader-bio", "nbgrader-cs1"]


def test_known_group_costs_no_query_and_no_change_costs_nothing(db, statements):
    groups = CourseGroups()
    add_user(db, "grader", ["formgrade-cs1"])
    first = add_user(db, "first")
    second = add_user(db, "second")
    groups.apply(db, first, "cs1", "student")
    db.expire(second, ["groups"])  # as a user loaded from the database
    statements.clear()
    assert groups.apply(db, second, "cs1", "student")
    # the lazy load of second's groups, then the membership row; the group itself is known
    assert statements == ["SELECT", "INSERT"]
    statements.clear()
    assert not groups.apply(db, second, "cs1", "student")
    assert statements == []
    assert memberships(db)["second"] == ["nbgrader-cs1"]


def test_new_user_membership_rides_the_next_commit(db, statements):
    groups = CourseGroups()
    add_user(db, "teacher", ["nbgrader-cs1"])
    groups.group(db, "nbgrader-cs1")
    fresh = add_user(db, "fresh")
    statements.clear()
    groups.apply_new_user(db, fresh, "cs1", "student")
    assert statements == []  # nothing loaded, nothing written yet
    db.commit()  # JupyterHub's auth_state commit
    assert statements == ["INSERT"]
    assert memberships(db)["fresh"] == ["nbgrader-cs1"]


def test_first_launch_of_a_course_creates_its_group(db):
    groups = CourseGroups()
    user = add_user(db, "alice")
    groups.apply(db, user, "new", "instructor")
    assert orm.Group.find(db, "formgrade-new") is not None
    assert memberships(db)["alice"] == ["formgrade-new"]


def test_a_deleted_group_is_looked_up_again(db):
    groups = CourseGroups()
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    groups.apply(db, alice, "cs1", "student")
    old = orm.Group.find(db, "nbgrader-cs1")
    db.delete(old)  # as DELETE /hub/api/groups/nbgrader-cs1 does
    db.commit()
    groups.apply(db, bob, "cs1", "student")
    assert memberships(db) == {"alice": [], "bob": ["nbgrader-cs1"]}
    assert orm.Group.find(db, "nbgrader-cs1") is not old


def test_failed_commit_rolls_back_and_forgets(db):
    groups = CourseGroups()
    alice = add_user(db, "alice")
    groups.group(db, "nbgrader-cs1")
    db.commit()
    clash = orm.User(name="alice")  # a unique-name violation pending in the same session
    db.add(clash)
    with pytest.raises(IntegrityError):
        groups.apply(db, alice, "cs1", "student")
    assert groups._groups == {}
    db.rollback()
    db.expunge_all()
    user = orm.User.find(db, "alice")
    groups.apply(db, user, "cs1", "student")
    assert memberships(db)["alice"] == ["nbgrader-cs1"]
