"""Swarm mode (docker-stack.yml sets COURSEHUB_MODE=swarm): course servers and graders run as
swarm services instead of containers, from the same SpawnPlan and GraderPlan.

The translation of a plan into a service spec is pure (unit-tested as data); the spawner and
the grader adapter only hand it to Docker. What a service spec cannot say on Docker 20.10
(engine API 1.41): ``no-new-privileges`` (ContainerSpec has no such field before API 1.44).

Data: servers and graders get bind mounts of folders of the data volume, whose path exists
on the hub's node only. So by default every service is placed on the hub's node; with the data
volume on shared storage mounted at the same path on every node, set
``c.CoursehubSwarmSpawner.pin_to_hub_node = False`` in jupyterhub_config.d to spread servers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from docker.types import EndpointSpec, Mount, Resources, RestartPolicy
from dockerspawner import SwarmSpawner
from traitlets import Bool, default

from ..core.graderplan import GraderPlan
from ..core.policy import SpawnPlan
from ..storage import runtime
from .docker import CoursehubSpawner
from .hardening import CAP_DROP, GRADER_PIDS_LIMIT

# Services resolve by DNS to their one task, as the stack's own do (docker-stack.yml): virtual
# IPs need the kernel's IPVS, which not every host has, and one replica gains nothing from one.
ENDPOINT_MODE = "dnsrr"
# A service name is a DNS label on the stack's network (the proxy reaches servers by it).
SERVICE_NAME_MAX = 63
_SERVICE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def service_name(prefix: str, user: str, server: str) -> str:
    """``{prefix}-{user}--{server}`` when that is a valid service name; otherwise its cleaned,
    shortened form plus a hash of the full name, so that two servers never share a name."""
    name = f"{prefix}-{user}--{server}" if server else f"{prefix}-{user}"
    if len(name) <= SERVICE_NAME_MAX and _SERVICE_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    clean = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return f"{clean[:SERVICE_NAME_MAX - len(digest) - 1].rstrip('-')}-{digest}"


def nano_cpus(cpus: float) -> int:
    return int(round(cpus * 1e9))


def resources(cpu_limit: float, mem_limit: int, cpu_guarantee: float, mem_guarantee: int,
              pids_limit: int) -> Resources:
    """Limits and reservations of a task. Unlike a plain container, a service can reserve CPU,
    so a plan's cpu_guarantee is a real reservation here (compose approximates it with shares).

    NOTE: docker-py's Resources has no pids argument; Limits.Pids is in the engine API since 1.41.
    """
    spec = Resources(
        cpu_limit=nano_cpus(cpu_limit) if cpu_limit else None,
        mem_limit=mem_limit or None,
        cpu_reservation=nano_cpus(cpu_guarantee) if cpu_guarantee else None,
        mem_reservation=mem_guarantee or None,
    )
    spec.setdefault("Limits", {})["Pids"] = pids_limit
    return spec


def placement(node_id: str | None) -> dict[str, Any]:
    return {"constraints": [f"node.id == {node_id}"]} if node_id else {}


@dataclass(frozen=True)
class ServerService:
    """SwarmSpawner's extra_* traits that carry a plan (it builds the spec from them)."""

    service_labels: Mapping[str, str]
    container_spec: Mapping[str, Any]
    task_spec: Mapping[str, Any]
    placement_spec: Mapping[str, Any]


def server_service(plan: SpawnPlan, create_kwargs: Mapping[str, Any],
                   host_config: Mapping[str, Any], node_id: str | None) -> ServerService:
    """The container options CoursehubSpawner derived from ``plan`` (``create_kwargs``: user and
    labels; ``host_config``: groups, capabilities, pids limit) as service options, so both modes
    apply one policy. Labels go on the service and its containers (status and tests find
    servers by them). A server that exits is not restarted by swarm: the hub's poll sees it
    stopped, as with a container, and the next launch starts a fresh one."""
    labels = dict(create_kwargs["labels"])
    container = {
        "user": create_kwargs["user"],
        "groups": list(host_config.get("group_add", [])),
        "labels": labels,
        "cap_drop": list(host_config["cap_drop"]),
    }
    task = {
        "resources": resources(plan.cpu_limit, plan.mem_limit, plan.cpu_guarantee,
                               plan.mem_guarantee, host_config["pids_limit"]),
        "restart_policy": RestartPolicy(condition="none"),
    }
    return ServerService(labels, container, task, placement(node_id))


def grader_service(plan: GraderPlan, host_path: Callable[[str], str], node_id: str | None) -> dict[str, Any]:
    """Keyword arguments of ``client.services.create`` for a course's grader: the container
    graders.ensure_container would create, as a service that swarm keeps running."""
    return {
        "image": plan.image,
        "name": plan.name,
        "hostname": plan.name,
        "user": plan.user,
        "env": dict(plan.environment),
        "labels": dict(plan.labels),
        "container_labels": dict(plan.labels),
        "mounts": [
            Mount(target=target, source=host_path(source), type="bind", read_only=read_only)
            for source, target, read_only in plan.binds()
        ],
        "networks": [plan.network],
        "endpoint_spec": EndpointSpec(mode=ENDPOINT_MODE),
        "cap_drop": list(CAP_DROP),
        "resources": resources(0, 0, 0, 0, GRADER_PIDS_LIMIT),
        "restart_policy": RestartPolicy(condition="any", delay=5_000_000_000),
        **placement(node_id),
    }


class CoursehubSwarmSpawner(CoursehubSpawner, SwarmSpawner):
    """SwarmSpawner applying the spawn plan: one service per user per course.

    CoursehubSpawner comes first in the MRO, so start (plan, folders), the plan fingerprint
    and apply_plan are shared; SwarmSpawner's create_object, poll and remove_object come before
    DockerSpawner's, so the object is a service.
    """

    pin_to_hub_node = Bool(
        True,
        config=True,
        help="""Place servers on the node the hub runs on. Their folders are bind mounts of the
        data volume, which exists on that node only; set False only when the data volume is
        shared storage mounted at the same path on every node.""",
    )

    @default("extra_endpoint_spec")
    def _endpoint_default(self):
        return {"mode": ENDPOINT_MODE}

    @default("object_name")
    def _object_name_default(self):
        return service_name(self.prefix, self.user.name, self.name)

    def apply_plan(self, plan: SpawnPlan, data) -> None:
        """Applies the plan as CoursehubSpawner does (image, mounts, environment, limits,
        user, groups, labels), then moves the container options into the service spec."""
        super().apply_plan(plan, data)
        node_id = runtime.swarm_node_id() if self.pin_to_hub_node else None
        spec = server_service(plan, self.extra_create_kwargs, self.extra_host_config, node_id)
        self.extra_create_kwargs = {"labels": dict(spec.service_labels)}
        self.extra_container_spec = dict(spec.container_spec)
        self.extra_task_spec = dict(spec.task_spec)
        self.extra_placement_spec = dict(spec.placement_spec)
