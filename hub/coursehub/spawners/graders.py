"""Grader plans in, grader containers (compose) or swarm services (swarm) out.

Each call is idempotent: a grader made from the same plan (its fingerprint label) is kept or
started, one made from an older plan is replaced, and a 409 from a concurrent provisioning of
the same course counts as success. Blocking docker-py calls: run them in a thread.
"""

from __future__ import annotations

from docker.errors import APIError, NotFound

from ..core.graderplan import GraderPlan
from ..core.settings import Settings
from ..storage import runtime
from .hardening import GRADER_PIDS_LIMIT, container_hardening
from .swarm import grader_service


def ensure_grader_sync(settings: Settings, plan: GraderPlan) -> str:
    """Runs the course's grader as the stack's mode wants it. Returns what was done
    (created, recreated, started or running)."""
    if settings.mode == "swarm":
        return ensure_grader_service(settings, plan)
    return ensure_container(settings, plan)


def existing(collection, name: str):
    """``collection.get(name)`` (docker-py containers or services), or None if there is none."""
    try:
        return collection.get(name)
    except NotFound:
        return None


def ensure_container(settings: Settings, plan: GraderPlan, client=None) -> str:
    """Creates the grader container, or starts it, or recreates it when its plan changed."""
    client = client or runtime.docker_client()
    data = runtime.datastore(settings)
    action = "created"
    container = existing(client.containers, plan.name)
    if container is not None:
        if plan.is_current(container.labels):
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
            init=False,
            **container_hardening(GRADER_PIDS_LIMIT),
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


def ensure_grader_service(settings: Settings, plan: GraderPlan, client=None) -> str:
    """Creates the grader's swarm service, or recreates it when its plan changed; swarm itself
    restarts a grader that exits. Returns created, recreated or running."""
    client = client or runtime.docker_client()
    action = "created"
    service = existing(client.services, plan.name)
    if service is not None:
        if plan.is_current(service.attrs["Spec"].get("Labels")):
            return "running"
        service.remove()
        action = "recreated"
    spec = grader_service(plan, runtime.datastore(settings).host, runtime.swarm_node_id())
    try:
        client.services.create(**spec)
    except APIError as error:
        if error.status_code != 409:
            raise
        # Another provisioning of the same course created it a moment ago.
    return action
