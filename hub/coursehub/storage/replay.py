"""LTI replay memory (Store's mixin): LTI 1.1 nonces and LTI 1.3 login states, as rows.

NOTE: ltiauthenticator 1.6.3 keeps LTI 1.1 nonces in a class-wide ``TTLCache(35, 35.0)`` keyed
by timestamp (lost on restart, evictable by a flood of distinct timestamps, shared by nothing
else) and binds the LTI 1.3 nonce only to a browser cookie. Here a nonce or state is a row
with a unique key, so "insert or fail" / "update where unused" is the replay check and holds
across restarts and hub replicas.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from .schema import (
    LTI11_NONCE_LIFETIME, MAX_KEY_LENGTH, MAX_NONCE_LENGTH, LTI13State, lti13_states, lti_nonces,
)


class ReplayMemory:
    """Mixin of Store: needs ``engine``, ``_autocommit``, ``_executor``, ``create_tables``,
    ``_inline`` (database.Database) and the attributes set by ``init_replay``."""

    def init_replay(self, state_max_age: float, prune_interval: float, prune_batch: int) -> None:
        self.state_max_age = state_max_age
        self.prune_interval = prune_interval
        self.prune_batch = prune_batch
        self._last_prune = 0.0

    # -- LTI 1.1 nonces -------------------------------------------------------------------
    def use_lti11_nonce_sync(
        self, consumer_key: str, nonce: str, timestamp: int, now: float | None = None
    ) -> bool:
        """Records a nonce; False if that (key, nonce, timestamp) was seen before (a replay).

        Call it only for launches that are otherwise valid (signature checked), so bogus
        requests never write and never push a real nonce out.
        """
        if len(nonce) > MAX_NONCE_LENGTH or len(consumer_key) > MAX_KEY_LENGTH:
            return False
        self.create_tables()
        now = time.time() if now is None else now
        self._maybe_prune(now)
        try:
            with self._autocommit.connect() as conn:
                conn.execute(_INSERT_NONCE, {
                    "consumer_key": consumer_key,
                    "nonce": nonce,
                    "timestamp": int(timestamp),
                    "expires_at": max(now, float(timestamp)) + LTI11_NONCE_LIFETIME,
                })
            return True
        except IntegrityError:
            return False

    async def use_lti11_nonce(self, consumer_key: str, nonce: str, timestamp: int) -> bool:
        return await self._inline(self.use_lti11_nonce_sync, consumer_key, nonce, timestamp)

    # -- LTI 1.3 states -------------------------------------------------------------------
    def create_lti13_state_sync(
        self, state_id: str, nonce: str, issuer: str, client_id: str, now: float | None = None
    ) -> None:
        self.create_tables()
        now = time.time() if now is None else now
        self._maybe_prune(now)
        with self._autocommit.connect() as conn:
            conn.execute(_INSERT_STATE, {
                "state_id": state_id,
                "nonce": nonce,
                "issuer": issuer,
                "client_id": client_id,
                "created_at": now,
                "used_at": None,
            })

    def get_lti13_state_sync(self, state_id: str) -> LTI13State | None:
        if len(state_id) > 64:
            return None
        self.create_tables()
        with self.engine.connect() as conn:
            row = conn.execute(select(lti13_states).where(lti13_states.c.state_id == state_id)).first()
        if row is None:
            return None
        return LTI13State(
            state_id=row.state_id,
            nonce=row.nonce,
            issuer=row.issuer,
            client_id=row.client_id,
            created_at=row.created_at,
            used_at=row.used_at,
        )

    def claim_lti13_state_sync(
        self, state_id: str, nonce: str, issuer: str, client_ids: list[str], now: float | None = None
    ) -> bool:
        """Marks a state used if it is fresh, unused and started by ``issuer`` for one of
        ``client_ids`` with ``nonce``; True for exactly one caller. One round trip: the usual
        launch never reads the row (get_lti13_state explains a refusal)."""
        if len(state_id) > 64 or not client_ids:
            return False
        self.create_tables()
        now = time.time() if now is None else now
        with self._autocommit.connect() as conn:
            result = conn.execute(_CLAIM_STATE, {
                "b_state_id": state_id,
                "b_oldest": now - self.state_max_age,
                "b_nonce": nonce,
                "b_issuer": issuer,
                "b_client_ids": list(client_ids),
                "b_now": now,
            })
            return result.rowcount == 1

    async def claim_lti13_state(self, state_id: str, nonce: str, issuer: str, client_ids: list[str]) -> bool:
        return await self._inline(self.claim_lti13_state_sync, state_id, nonce, issuer, client_ids)

    async def create_lti13_state(self, state_id: str, nonce: str, issuer: str, client_id: str) -> None:
        await self._inline(self.create_lti13_state_sync, state_id, nonce, issuer, client_id)

    async def get_lti13_state(self, state_id: str) -> LTI13State | None:
        return await self._inline(self.get_lti13_state_sync, state_id)

    # -- pruning --------------------------------------------------------------------------
    def prune_sync(self, now: float | None = None) -> int:
        """Deletes expired nonces and states, at most ``prune_batch`` of each per call."""
        self.create_tables()
        now = time.time() if now is None else now
        deleted = 0
        with self.engine.begin() as conn:
            expired_nonces = (
                select(lti_nonces.c.id).where(lti_nonces.c.expires_at < now).limit(self.prune_batch)
            )
            deleted += conn.execute(
                delete(lti_nonces).where(lti_nonces.c.id.in_(expired_nonces.scalar_subquery()))
            ).rowcount
            expired_states = (
                select(lti13_states.c.state_id)
                .where(lti13_states.c.created_at < now - self.state_max_age - 60)
                .limit(self.prune_batch)
            )
            deleted += conn.execute(
                delete(lti13_states).where(
                    lti13_states.c.state_id.in_(expired_states.scalar_subquery())
                )
            ).rowcount
        return deleted

    def _maybe_prune(self, now: float) -> None:
        # Lazy and bounded: at most one batch per prune_interval, piggybacked on a write.
        if now - self._last_prune < self.prune_interval:
            return
        self._last_prune = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._prune_quietly(now)
        else:
            # An inline write on the event loop: the batch delete goes to the pool.
            loop.run_in_executor(self._executor, self._prune_quietly, now)

    def _prune_quietly(self, now: float) -> None:
        try:
            self.prune_sync(now)
        except OperationalError:
            # A busy database postpones pruning; it never fails a launch.
            self._last_prune = now - self.prune_interval / 2


# The login path's statements, built once (their compiled form is cached by SQLAlchemy).
_INSERT_NONCE = insert(lti_nonces)
_INSERT_STATE = insert(lti13_states)
_CLAIM_STATE = (
    update(lti13_states)
    .where(lti13_states.c.state_id == bindparam("b_state_id"))
    .where(lti13_states.c.used_at.is_(None))
    .where(lti13_states.c.created_at >= bindparam("b_oldest"))
    .where(lti13_states.c.nonce == bindparam("b_nonce"))
    .where(lti13_states.c.issuer == bindparam("b_issuer"))
    .where(lti13_states.c.client_id.in_(bindparam("b_client_ids", expanding=True)))
    .values(used_at=bindparam("b_now"))
)

