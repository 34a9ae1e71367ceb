"""A pooled database connection is checked before use without a round trip to the database.

Why: JupyterHub 6.1 (``orm.register_ping_connection``) runs ``SELECT 1`` in a transaction of
its own every time its Session takes a connection, i.e. before every transaction the hub
makes, and SQLAlchemy's ``pool_pre_ping`` does one ``SELECT 1`` per checkout. On SQLite both
are function calls; on Postgres they are network round trips on the hub's event loop - five
or six per login, a quarter of the hub's database time for a login in bench/login.py.

What both guard against is a connection the server has closed (Postgres restarted, an idle
connection terminated). The server then sends an error message and closes the socket, so the
socket of a connection idle in the pool turns readable. ``connection_is_dead`` asks the kernel
exactly that (a zero-timeout select) and the pool's ``checkout`` event swaps such a
connection for a new one (SQLAlchemy's documented DisconnectionError protocol), as a ping
would, without a round trip. ``pool_recycle`` (config.py, here) bounds the age of a connection
against a peer that vanished without closing. A few lines on SQLAlchemy's events; no library
offers this, so it is written here.
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

RECYCLE_SECONDS = 300


def connection_is_dead(dbapi_connection: Any) -> bool:
    """True when an idle DB-API connection's server side has closed it (or sent something
    unasked, which an idle Postgres connection only does before it closes)."""
    if getattr(dbapi_connection, "closed", 0):
        return True
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:  # SQLite and other in-process databases: nothing can close it
        return False
    try:
        readable, _, _ = select.select([fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _check_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if connection_is_dead(dbapi_connection):
        # The pool discards this connection and checks out (or opens) another.
        raise exc.DisconnectionError("the database closed this pooled connection")


def install(engine: Engine) -> None:
    """Checks every connection of ``engine``'s pool on checkout (idempotent)."""
    if not event.contains(engine.pool, "checkout", _check_on_checkout):
        event.listen(engine.pool, "checkout", _check_on_checkout)


def _is_hub_ping(listener: Any) -> bool:
    return getattr(listener, "__module__", "") == "jupyterhub.orm" and "ping_connection" in getattr(
        listener, "__qualname__", ""
    )


def replace_hub_ping(engine: Engine) -> int:
    """Installs the checkout check on JupyterHub's ``engine`` and removes the hub's
    per-transaction ping it replaces; returns how many listeners were removed."""
    install(engine)
    removed = 0
    for listener in list(engine.dispatch.engine_connect):
        if _is_hub_ping(listener):
            event.remove(engine, "engine_connect", listener)
            removed += 1
    return removed


def tune_hub_engine(app: Any, log: Any) -> None:
    """replace_hub_ping on the JupyterHub ``app``'s engine, if it has one yet."""
    factory = getattr(app, "session_factory", None)
    engine = getattr(factory, "kw", {}).get("bind") if factory is not None else None
    if not isinstance(engine, Engine) or engine.dialect.name == "sqlite":
        return
    removed = replace_hub_ping(engine)
    log.info("coursehub.dbcheck: hub database connections checked on checkout without a round trip "
             "(replaced %d ping listener(s))", removed)
