"""What a launch keeps in JupyterHub's (encrypted) auth_state, through JupyterHub's
``reconcile_auth_state_hook``: the latest launch of every course the user opened."""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.orm import object_session

from .handlers import NEW_MEMBER


def reconcile_launch(
    authenticator: Any, auth_model: dict[str, Any], existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """JupyterHub's reconcile_auth_state_hook, the last step of its auth_to_user before the
    commit that saves auth_state: a user this launch created joins the course group here, so
    the membership is written by that same commit (LaunchLogin.user_from_username)."""
    new_member = auth_model.pop(NEW_MEMBER, None)
    if new_member is not None:
        orm_user, course, role = new_member
        authenticator.course_groups.apply_new_user(object_session(orm_user), orm_user, course, role)
    return keep_course_launches(authenticator, auth_model, existing)


def keep_course_launches(
    authenticator: Any, auth_model: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """auth_state is replaced at every login, but each course server is planned from the latest
    launch of its own course, so the launches of the user's other courses are kept next to
    this one."""
    new = dict(auth_model["auth_state"])
    old = existing or {}
    for key in ("launches", "deep_linking"):
        new[key] = {**(old.get(key) or {}), **(new.get(key) or {})}
    return new
