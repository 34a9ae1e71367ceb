"""Process-wide adapters of the hub (database store, data volume, Docker client), made once."""

from __future__ import annotations

import functools
import threading

import docker

from ..core.settings import Settings
from .datastore import DataStore
from .store import Store

DATA_ROOT_IN_HUB = "/srv/coursehub/data"


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def store_for(db_url: str) -> Store:
    # One Store per database and process, made under a lock: threads asking at once must not
    # each build one and race their CREATE TABLEs.
    with _stores_lock:
        if db_url not in _stores:
            store = Store(db_url)
            store.create_tables()
            _stores[db_url] = store
        return _stores[db_url]


def forget_stores() -> None:
    """Drops the cached stores (tests that use throwaway databases)."""
    with _stores_lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


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


@functools.cache
def swarm_node_id() -> str:
    """The swarm node whose engine the hub talks to: the node that holds the data volume."""
    return docker_client().info()["Swarm"]["NodeID"]
