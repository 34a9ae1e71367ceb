"""Sizes of the coursehub images (docker image inspect), each beside the image it is built on."""

from __future__ import annotations

import docker

from .stack import VERSION, Bench
from .table import Row

# image -> the image its Dockerfile starts FROM (images/<name>/Dockerfile)
PARENTS = {
    "python": None, "proxy": None, "postgres": None, "hub": "python", "notebook": "python",
    "student": "notebook", "instructor": "notebook", "grader": "notebook",
}


def _mib(client, name: str) -> float | None:
    try:
        return client.images.get(f"coursehub/{name}:{VERSION}").attrs["Size"] / 1024**2
    except docker.errors.ImageNotFound:
        return None


def rows(bench: Bench) -> list[Row]:
    client = docker.from_env()
    result = []
    for name, parent in PARENTS.items():
        size = _mib(client, name)
        base = _mib(client, parent) if parent else None
        result.append(Row(
            name=f"image coursehub/{name}:{VERSION}",
            value="missing" if size is None else f"{size:.0f} MiB",
            baseline="-" if base is None or size is None else f"+{size - base:.0f} MiB on {parent}",
        ))
    return result
