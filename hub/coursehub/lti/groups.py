"""A launch's course group membership, written on JupyterHub's ORM session in fewer round trips
than ``User.sync_groups``.

Written by hand because JupyterHub has no in-process call that changes one membership:
``User.sync_groups`` *replaces* the user's whole set, so for every launch it loads the user's
groups, queries each wanted group by name (and each loaded group pulls its roles and shares,
``lazy="selectin"``), then commits on its own - on Postgres some eight round trips, measured as
a fifth of the hub's Python time per login (py-spy, issue #3). A launch changes at most this
course's two groups, so coursehub:

- computes the change from the user's current groups (``course_membership``, pure);
- keeps the course groups it has used as ORM objects of the hub's one session, so the group
  costs no query after its first use (JupyterHub deletes groups only through that session,
  which detaches the object; a detached or deleted object is looked up again);
- for a user created by this very launch, sets the groups collection to empty without loading
  it and lets the membership ride the commit JupyterHub makes for auth_state anyway.

The result is the same rows ``sync_groups`` would write: the ``user_group_map`` of the
same ORM relationship.
"""

from __future__ import annotations

from typing import Any

from jupyterhub import orm
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from ..core.courses import instructor_group, student_group


def course_membership(current: set[str], course: str, role: str) -> tuple[str | None, frozenset[str]]:
    """(group to join or None, groups to leave) for a launch into ``course`` as ``role``.

    Only this course's two groups move: a relaunch as TA after a launch as student leaves
    ``nbgrader-{course}`` for ``formgrade-{course}``; other courses' groups stay.
    """
    wanted = student_group(course) if role == "student" else instructor_group(course)
    own = {student_group(course), instructor_group(course)}
    return (None if wanted in current else wanted), frozenset((current & own) - {wanted})


class CourseGroups:
    """Course groups of the hub's ORM session, by name."""

    def __init__(self) -> None:
        self._groups: dict[str, Any] = {}

    def group(self, db: Any, name: str) -> Any:
        """The ``orm.Group`` called ``name``, created (pending) when it does not exist."""
        group = self._groups.get(name)
        if group is not None:
            state = inspect(group)
            if (state.persistent or state.pending) and not state.deleted:
                return group
        group = orm.Group.find(db, name)
        if group is None:
            group = orm.Group(name=name)
            db.add(group)
        self._groups[name] = group
        return group

    def apply(self, db: Any, orm_user: Any, course: str, role: str, commit: bool = True) -> bool:
        """Moves ``orm_user`` into this course's group for ``role``; True when something changed.

        ``commit=False`` leaves the change to the session's next commit.
        """
        join, leave = course_membership({g.name for g in orm_user.groups}, course, role)
        if join is None and not leave:
            return False
        for group in [g for g in orm_user.groups if g.name in leave]:
            orm_user.groups.remove(group)
        if join is not None:
            orm_user.groups.append(self.group(db, join))
        if commit:
            try:
                db.commit()
            except SQLAlchemyError:
                # e.g. a group deleted behind this session's back: look every group up again.
                db.rollback()
                self.forget()
                raise
        return True

    def apply_new_user(self, db: Any, orm_user: Any, course: str, role: str) -> None:
        """``apply`` for a user created by this very launch (lti.reconcile_launch): it has no
        groups yet, so the collection is set empty instead of loaded (one query saved) and the
        membership is written by the session's next commit (JupyterHub's auth_state save)."""
        set_committed_value(orm_user, "groups", [])
        self.apply(db, orm_user, course, role, commit=False)

    def forget(self) -> None:
        self._groups.clear()
