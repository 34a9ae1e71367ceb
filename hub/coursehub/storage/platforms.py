"""The LTI 1.3 platform registry (Store's mixin): the settings file's platforms, synced at hub
start, and the ones that registered themselves (dynamic registration), one row per client.

Launches read it (one indexed SELECT per request, inline like the other login statements), so
a platform added, disabled or removed takes effect at the next launch without a hub restart.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import bindparam, delete, insert, or_, select, update

from ..core.settings import LTI13Platform
from .schema import platforms, registration_secrets

# How long a registration URL printed for the admin stays usable (it works once).
REGISTRATION_SECRET_LIFETIME = 14 * 86400


class RegistrationRefused(Exception):
    """A dynamic registration that may not be stored; ``str()`` says why, for a person."""


@dataclass(frozen=True)
class PlatformEntry:
    """One registry row: the platform as launches see it (one client), and its admin state."""

    id: int
    platform: LTI13Platform
    enabled: bool
    created_at: datetime | None


def _entry(row: Any) -> PlatformEntry:
    return PlatformEntry(
        id=row.id,
        platform=LTI13Platform(
            issuer=row.issuer, client_ids=(row.client_id,),
            deployment_ids=tuple(json.loads(row.deployment_ids or "[]")),
            authorize_url=row.authorize_url, jwks_url=row.jwks_url, name=row.name,
            token_url=row.token_url or "", source=row.source,
        ),
        enabled=bool(row.enabled),
        created_at=row.created_at,
    )


def _unique_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted[:200] or "platform", 2
    while name in taken:
        name, n = f"{wanted[:200]}-{n}", n + 1
    return name


_BY_ISSUER = select(platforms).where(platforms.c.issuer == bindparam("issuer")).order_by(platforms.c.id)


class PlatformRegistry:
    """Mixin of Store: needs ``engine``, ``create_tables``, ``_inline`` (database.Database)."""

    # -- launches -------------------------------------------------------------------------
    def platforms_for_issuer_sync(self, issuer: str) -> list[PlatformEntry]:
        self.create_tables()
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(_BY_ISSUER, {"issuer": issuer})]

    async def platforms_for_issuer(self, issuer: str) -> list[PlatformEntry]:
        return await self._inline(self.platforms_for_issuer_sync, issuer)

    def bind_deployment_sync(self, entry_id: int, deployment: str) -> bool:
        """Records the first launch's deployment of a registration that has none (Canvas makes
        the deployment at install time); False when the registration has one already."""
        self.create_tables()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(platforms)
                .where(platforms.c.id == entry_id, platforms.c.deployment_ids == "[]")
                .values(deployment_ids=json.dumps([deployment]))
            )
            return result.rowcount == 1

    async def bind_deployment(self, entry_id: int, deployment: str) -> bool:
        return await self._run(self.bind_deployment_sync, entry_id, deployment)

    # -- the settings file ------------------------------------------------------------------
    def sync_settings_platforms_sync(self, configured: Iterable[LTI13Platform]) -> None:
        """Makes the registry's settings rows exactly the settings file's platforms (one row
        per client). The file wins: a dynamic row for the same client becomes a settings row;
        an admin's disable is kept."""
        self.create_tables()
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            rows = {(r.issuer, r.client_id): r for r in conn.execute(select(platforms))}
            taken = {r.name for r in rows.values()}
            wanted = set()
            for platform in configured:
                for client_id in platform.client_ids:
                    key = (platform.issuer, client_id)
                    wanted.add(key)
                    values = {
                        "deployment_ids": json.dumps(list(platform.deployment_ids)),
                        "authorize_url": platform.authorize_url, "jwks_url": platform.jwks_url,
                        "token_url": platform.token_url, "source": "settings",
                    }
                    if key in rows:
                        conn.execute(update(platforms).where(platforms.c.id == rows[key].id).values(**values))
                        continue
                    base = platform.name if len(platform.client_ids) == 1 else f"{platform.name} {client_id}"
                    name = _unique_name(base, taken)
                    taken.add(name)
                    conn.execute(insert(platforms).values(
                        name=name, issuer=platform.issuer, client_id=client_id, enabled=True,
                        created_at=now, **values))
            gone = [r.id for key, r in rows.items() if r.source == "settings" and key not in wanted]
            if gone:
                conn.execute(delete(platforms).where(platforms.c.id.in_(gone)))

    # -- the admin ------------------------------------------------------------------------
    def all_platforms_sync(self) -> list[PlatformEntry]:
        self.create_tables()
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(select(platforms).order_by(platforms.c.id))]

    def find_platforms_sync(self, ident: str) -> list[PlatformEntry]:
        """Rows whose id, name, issuer or client id is ``ident``."""
        self.create_tables()
        clauses = [platforms.c.name == ident, platforms.c.issuer == ident, platforms.c.client_id == ident]
        if ident.isdigit():
            clauses.append(platforms.c.id == int(ident))
        with self.engine.connect() as conn:
            return [_entry(r) for r in conn.execute(select(platforms).where(or_(*clauses)).order_by(platforms.c.id))]

    def set_platform_enabled_sync(self, entry_id: int, enabled: bool) -> None:
        self.create_tables()
        with self.engine.begin() as conn:
            conn.execute(update(platforms).where(platforms.c.id == entry_id).values(enabled=enabled))

    def remove_platform_sync(self, entry_id: int) -> None:
        self.create_tables()
        with self.engine.begin() as conn:
            conn.execute(delete(platforms).where(platforms.c.id == entry_id))

    # -- dynamic registration ---------------------------------------------------------------
    def registration_secret_sync(self, new: bool = False, now: float | None = None) -> str:
        """The secret of the registration URL: the newest one still unused and fresh, or (also
        with ``new``, which retires the older unused ones) a fresh one."""
        self.create_tables()
        now = time.time() if now is None else now
        fresh = now - REGISTRATION_SECRET_LIFETIME
        with self.engine.begin() as conn:
            unused = registration_secrets.c.used_at.is_(None)
            if new:
                conn.execute(delete(registration_secrets).where(unused))
            else:
                found = conn.execute(
                    select(registration_secrets.c.secret)
                    .where(unused, registration_secrets.c.created_at >= fresh)
                    .order_by(registration_secrets.c.created_at.desc())
                ).scalar()
                if found:
                    return found
            secret = secrets.token_urlsafe(24)
            conn.execute(insert(registration_secrets).values(secret=secret, created_at=now))
            return secret

    def registration_secret_problem_sync(self, secret: str, now: float | None = None) -> str:
        """Why ``secret`` cannot register a platform now ("" when it can)."""
        self.create_tables()
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            row = conn.execute(select(registration_secrets).where(
                registration_secrets.c.secret == secret[:64])).first()
        if row is None:
            return "unknown"
        if row.used_at is not None:
            return "used"
        if row.created_at < now - REGISTRATION_SECRET_LIFETIME:
            return "expired"
        return ""

    def register_dynamic_sync(self, secret: str, platform: LTI13Platform, now: float | None = None) -> PlatformEntry:
        """Stores a dynamic registration and uses up ``secret``, in one transaction: either
        both happen or neither (RegistrationRefused says why)."""
        self.create_tables()
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(registration_secrets)
                .where(registration_secrets.c.secret == secret[:64], registration_secrets.c.used_at.is_(None),
                       registration_secrets.c.created_at >= now - REGISTRATION_SECRET_LIFETIME)
                .values(used_at=now, used_by=platform.issuer[:255])
            ).rowcount
            if claimed != 1:
                raise RegistrationRefused("the registration URL was used or expired meanwhile")
            existing = conn.execute(select(platforms).where(
                platforms.c.issuer == platform.issuer, platforms.c.client_id == platform.client_id)).first()
            if existing is not None and existing.source == "settings":
                raise RegistrationRefused(
                    f"client {platform.client_id!r} of {platform.issuer} is in the settings file, which wins")
            if existing is not None:
                conn.execute(delete(platforms).where(platforms.c.id == existing.id))
            taken = {r.name for r in conn.execute(select(platforms.c.name))}
            name = _unique_name(platform.name, taken)
            conn.execute(insert(platforms).values(
                name=name, issuer=platform.issuer, client_id=platform.client_id,
                deployment_ids=json.dumps(list(platform.deployment_ids)),
                authorize_url=platform.authorize_url, jwks_url=platform.jwks_url,
                token_url=platform.token_url, source="dynamic", enabled=True,
                created_at=datetime.now(timezone.utc),
            ))
            row = conn.execute(select(platforms).where(platforms.c.name == name)).first()
        return _entry(row)

