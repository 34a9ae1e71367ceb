"""A course's grader as the hub knows it: its roles (in the hub's ORM: JupyterHub has no REST
API for roles), its external service (the REST API), and its proxy route."""

from __future__ import annotations

import json

from jupyterhub import orm, roles
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ..core.courses import grader_name, instructor_group, student_group
from ..core.graderplan import formgrader_role, grader_service_role, service_spec, service_url
from ..core.settings import HUB_API_INSIDE_HUB, Settings

# How long the hub's POST /services waits for a new grader to answer (JupyterHub's default
# Service.timeout; it polls the service URL until then).
SERVICE_TIMEOUT = 30


def ensure_hub_roles(db, course: str, service_name: str | None = None) -> None:
    """Creates the course's groups, grader account and roles in the hub database and grants them.

    NOTE: JupyterHub has no REST API to create roles. Roles from `load_roles` config are
    deleted at startup when absent from the config; roles marked managed_by_auth survive
    (app.py init_role_assignment, with reset_managed_roles_on_startup False), so these do.
    """
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


async def ensure_route(handler, course: str) -> None:
    """Adds the service's proxy route now.

    NOTE: JupyterHub 6.1.1's POST /api/services registers a service but adds no proxy route;
    the next check_routes (every last_activity_interval, 5 min) would. Adding a route that
    exists replaces it with the same target, so this is idempotent.
    """
    service = handler.services.get(course)
    if service is not None and service.server is not None:
        await handler.proxy.add_service(service)
