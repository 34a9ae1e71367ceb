"""coursehub's own tables in the hub database, as one object per process (storage/runtime.py).

SQLAlchemy Core on the hub's ``db_url`` (Postgres in production, SQLite for local dev). The
tables are in schema.py; each concern's statements in a mixin of its own: registry.py
(courses, uids, graders), replay.py (LTI nonces and states), platforms.py (the LTI 1.3
platform registry and dynamic registration secrets), ledger.py (what launches said, for
the grades and roster services, and every grade send).
"""

from __future__ import annotations

from .database import Database
from .ledger import Ledger
from .platforms import PlatformRegistry
from .registry import Registry
from .replay import ReplayMemory


class Store(Ledger, PlatformRegistry, ReplayMemory, Registry, Database):
    """coursehub's tables. ``*_sync`` methods block; the others run them on the pool (or
    inline, for the one-statement writes of a login)."""

    def __init__(
        self,
        db_url: str,
        *,
        state_max_age: float = 600,
        prune_interval: float = 60,
        prune_batch: int = 1000,
        max_workers: int = 8,
    ):
        Database.__init__(self, db_url, max_workers=max_workers)
        self.init_replay(state_max_age, prune_interval, prune_batch)
