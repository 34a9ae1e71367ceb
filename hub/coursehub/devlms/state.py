"""The dev platform's own tables: the clients tools registered with it (dynamic registration)
and the one-time token ids it has seen (registration tokens, client assertions)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, Text, insert, select
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
