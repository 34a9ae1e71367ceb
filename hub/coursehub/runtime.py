"""Process-wide adapters of the hub (database store, data volume, Docker client), made once."""

from __future__ import annotations

import functools

import docker

from .datastore import DataStore
from .settings import Settings
from .store import Store

DATA_ROOT_IN_HUB = "/srv/coursehub/data"


@functools.cache
def store_for(db_url: str) -> Store:
    store = Store(db_url)
    store.create_tables()
    return store


def store(settings: Settings) -> Store:
    return store_for(settings.db_url)


@functools.cache
def docker_client() -> docker.DockerClient:
    return docker.from_env()


@functools.cache
def _datastore(volume: str) -> DataStore:
    # Docker binds host paths, and on one host the named volume's mount point is one: so
    # the hub can hand each container just its own subfolders of the one data volume
    # (Docker 20.10 has no volume-subpath mounts).
    mountpoint = docker_client().volumes.get(volume).attrs["Mountpoint"]
    return DataStore(root=DATA_ROOT_IN_HUB, host_root=mountpoint)


def datastore(settings: Settings) -> DataStore:
    return _datastore(settings.data_volume)
