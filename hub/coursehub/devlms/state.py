"""The dev platform's own tables: the clients tools registered with it (dynamic registration),
the one-time token ids it has seen (registration tokens, client assertions, OAuth nonces), the
access tokens it issued, its gradebook (line items, scores, LTI 1.1 results) and the faults a
test asked for."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

clients = Table(
    "coursehub_dev_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("issuer", String(255), nullable=False),
    Column("deployment_id", String(64), nullable=False),
    Column("jwks_uri", String(1024), nullable=False),
    Column("registration", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

used_jtis = Table(
    "coursehub_dev_jtis",
    metadata,
    Column("jti", String(128), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("expires_at", Float, nullable=False),
)

tokens = Table(
    "coursehub_dev_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
)

lineitems = Table(
    "coursehub_dev_lineitems",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("context_id", String(255), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("label", String(255), nullable=False),
    Column("score_maximum", Float, nullable=False),
    Column("resource_id", String(255), nullable=False, default=""),
    Column("resource_link_id", String(255), nullable=False, default=""),
    Column("tag", String(255), nullable=False, default=""),
)

scores = Table(
    "coursehub_dev_scores",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lineitem_id", Integer, nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("score_given", Float, nullable=True),
    Column("score_maximum", Float, nullable=True),
    Column("timestamp", String(64), nullable=False),
    Column("activity_progress", String(32), nullable=False),
    Column("grading_progress", String(32), nullable=False),
    Column("received_at", Float, nullable=False),
)

outcomes = Table(
    "coursehub_dev_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("context_id", String(255), nullable=False),
    Column("resource_link_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("score", Float, nullable=False),
    Column("received_at", Float, nullable=False),
)

rosters = Table(
    "coursehub_dev_rosters",
    metadata,
    Column("context_id", String(255), primary_key=True),
    Column("members", Text, nullable=False),
)

links = Table(
    "coursehub_dev_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("context_id", String(255), nullable=False),
    Column("title", String(255), nullable=False),
    Column("custom", Text, nullable=False),
    Column("lineitem_id", Integer, nullable=True),
)


faults = Table(
    "coursehub_dev_faults",
    metadata,
    # which endpoint: token, lineitems, scores, outcomes, memberships
    Column("endpoint", String(32), primary_key=True),
    # status to answer (500, 401...) or "slow:<seconds>"
    Column("mode", String(32), nullable=False),
    Column("remaining", Integer, nullable=False),
)

_created: set[str] = set()
_lock = threading.Lock()


def ensure_tables(engine: Engine) -> None:
    key = str(engine.url)
    if key in _created:
        return
    with _lock:
        if key not in _created:
            metadata.create_all(engine, checkfirst=True)
            _created.add(key)


@dataclass(frozen=True)
class DevClient:
    client_id: str
    issuer: str
    deployment_id: str
    jwks_uri: str
    registration: dict[str, Any]


def add_client(engine: Engine, client: DevClient) -> None:
    ensure_tables(engine)
    with engine.begin() as conn:
        conn.execute(insert(clients).values(
            client_id=client.client_id, issuer=client.issuer, deployment_id=client.deployment_id,
            jwks_uri=client.jwks_uri, registration=json.dumps(client.registration), created_at=time.time(),
        ))


def get_client(engine: Engine, client_id: str) -> DevClient | None:
    ensure_tables(engine)
    with engine.connect() as conn:
        row = conn.execute(select(clients).where(clients.c.client_id == client_id)).first()
    if row is None:
        return None
    return DevClient(row.client_id, row.issuer, row.deployment_id, row.jwks_uri, json.loads(row.registration))


def use_jti(engine: Engine, jti: str, purpose: str, expires_at: float) -> bool:
    """Records a one-time token id; False when it was seen before (a replay)."""
    ensure_tables(engine)
    if not jti or len(jti) > 128:
        return False
    try:
        with engine.begin() as conn:
            conn.execute(insert(used_jtis).values(jti=jti, purpose=purpose, expires_at=expires_at))
        return True
    except IntegrityError:
        return False


def take_fault(engine: Engine, endpoint: str) -> str:
    """The fault a test set for ``endpoint`` (used up by one), or ""."""
    ensure_tables(engine)
    with engine.begin() as conn:
        row = conn.execute(select(faults).where(faults.c.endpoint == endpoint)).first()
        if row is None or row.remaining <= 0:
            return ""
        conn.execute(update(faults).where(faults.c.endpoint == endpoint).values(remaining=row.remaining - 1))
        return row.mode


def set_fault(engine: Engine, endpoint: str, mode: str, count: int) -> None:
    ensure_tables(engine)
    with engine.begin() as conn:
        conn.execute(delete(faults).where(faults.c.endpoint == endpoint))
        if count > 0:
            conn.execute(insert(faults).values(endpoint=endpoint, mode=mode, remaining=count))
