"""The plumbing under every coursehub table: the engines, a small thread pool for blocking
work, and the schema created once per process.

Every blocking call has an async twin: multi-statement work runs on the pool (``_run``); the
one-statement LTI writes of a login run inline, as the hub's own ORM calls do (``_inline``).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from sqlalchemy import Table, func, select

from .schema import create_schema, make_engine


class Database:
    """Engines and pool of one database URL; the table mixins of ``Store`` build on it."""

    def __init__(self, db_url: str, *, max_workers: int = 8):
        self.engine = make_engine(db_url)
        # One-statement writes (a nonce, a state) need no transaction around them: in
        # autocommit they are one round trip instead of BEGIN, the statement and COMMIT. An
        # engine of their own, not execution_options on the main one: switching a pooled
        # connection's isolation level at every checkout and back at checkin, plus building
        # the statement each time, cost 0.29 ms CPU per write against 0.11 ms with this engine
        # and prebuilt statements (measured in the hub container on Postgres).
        self._autocommit = make_engine(db_url, autocommit=True)
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="coursehub-db")
        self._created = False
        self._create_lock = threading.Lock()

    def create_tables(self) -> None:
        """Creates (and migrates) the coursehub tables once per process."""
        if self._created:
            return
        with self._create_lock:
            if not self._created:
                create_schema(self.engine)
                self._created = True

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def _inline(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs a one-statement call on the event loop, as JupyterHub runs its own ORM calls.

        Measured (bench/login.py, 20 concurrent LTI 1.1 logins): handing a sub-millisecond
        autocommit statement to the pool cost more hub CPU (GIL hand-offs, wake-ups) than the
        statement itself - 12.6 vs 10.8 ms per login. The login path waits on the hub's own
        database calls anyway, so a pool thread buys no isolation there; multi-statement work
        (uids, course registration, pruning) stays on the pool.
        """
        return fn(*args, **kwargs)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
        self.engine.dispose()
        self._autocommit.dispose()

    def count_sync(self, table: Table) -> int:
        self.create_tables()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
