"""The one set of options every coursehub container runs with: course servers and graders
never need privileges, so no capabilities and no setuid escalation, and a bounded process count.

Swarm services carry the same through swarm.py, except ``no-new-privileges``: a service's
ContainerSpec has no such field before engine API 1.44 (Docker 20.10 speaks 1.41).
"""

from __future__ import annotations

from typing import Any

CAP_DROP = ["ALL"]
SECURITY_OPT = ["no-new-privileges"]
SERVER_PIDS_LIMIT = 512
# A formgrader runs nbgrader's autograder (kernels per notebook): more processes than a server.
GRADER_PIDS_LIMIT = 1024


def container_hardening(pids_limit: int) -> dict[str, Any]:
    """docker-py keyword arguments (and DockerSpawner host_config keys) of a hardened container."""
    return {"cap_drop": list(CAP_DROP), "security_opt": list(SECURITY_OPT), "pids_limit": pids_limit}
