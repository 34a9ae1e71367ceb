"""What every endpoint of the dev platform shares: its tables, bearer tokens and scopes, the
faults a test set, and errors in the shapes the specs give (OAuth 2 errors, plain problems)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from jupyterhub.handlers import BaseHandler
from sqlalchemy import insert, select
from tornado.web import HTTPError

from ..core.logline import logline
from ..lti.lmshttp import Answer, call
from ..storage import runtime
from . import state

# Moodle's LTI service URLs end in ?type_id=<the tool's type>; the emulator's do too.
TYPE_ID = "7"


class DevHandler(BaseHandler):
    endpoint = ""
    client = ""

    def check_xsrf_cookie(self) -> None:
        # Server-to-server endpoints, called with bearer tokens or signatures, never forms.
        return

    @property
    def engine(self):
        return runtime.store_for(self.authenticator.settings.db_url).engine

    # -- answers --------------------------------------------------------------------------
    def json(self, value: Any, media_type: str = "application/json") -> None:
        self.set_header("Content-Type", media_type)
        self.finish(json.dumps(value))

    def problem(self, status: int, message: str) -> None:
        self.log.warning(logline("refused", kind="dev-platform", endpoint=self.endpoint or None, message=message))
        self.set_status(status)
        self.json({"error": message})

    def oauth_error(self, status: int, error: str, description: str) -> None:
        self.log.warning(logline("refused", kind="dev-platform", endpoint=self.endpoint or None, message=description))
        self.set_status(status)
        # RFC 6749 5.2
        self.json({"error": error, "error_description": description})

    def body_json(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except ValueError:
            return None

    def media_type(self, wanted: str) -> bool:
        got = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if got != wanted:
            self.problem(415, f"Content-Type must be {wanted}, not {got or 'none'}")
            return False
        return True

    def moodle_query(self) -> bool:
        """Moodle's service URLs carry ?type_id=N; a tool that drops the query reaches nothing."""
        if self.get_argument("type_id", "") != TYPE_ID:
            self.problem(404, "no such service (the URL lost its ?type_id= query)")
            return False
        return True

    # -- who is calling -------------------------------------------------------------------
    async def authorized(self, *scopes: str) -> bool:
        """A bearer token this platform issued, unexpired, holding one of ``scopes``."""
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            self.problem(401, "no bearer token")
            return False
        rows = await self.read_rows(select(state.tokens).where(state.tokens.c.token == header[7:]))
        if not rows or rows[0].expires_at < time.time():
            self.problem(401, "the access token is unknown or expired")
            return False
        if not set(rows[0].scopes.split()) & set(scopes):
            self.problem(403, f"the access token lacks the scope {scopes[0]}")
            return False
        self.client = rows[0].client_id
        return True

    def admin(self) -> bool:
        """The coursehub API token: what tests use to read the LMS's gradebook and set faults."""
        if self.request.headers.get("Authorization", "") != f"token {self.authenticator.settings.api_token}":
            raise HTTPError(403, "the dev platform's test API needs the coursehub API token")
        return True

    async def fault(self) -> bool:
        """Applies a fault a test set for this endpoint; True when it answered in its place."""
        mode = await asyncio.to_thread(state.take_fault, self.engine, self.endpoint)
        if not mode:
            return False
        if mode.startswith("slow:"):
            await asyncio.sleep(float(mode[5:]))
            return False
        self.problem(int(mode), f"fault injected for {self.endpoint}: {mode}")
        return True

    # -- data -----------------------------------------------------------------------------
    async def fetch(self, url: str) -> Answer:
        return await call("GET", url, "the tool's JWKS")

    async def read_rows(self, query) -> list[Any]:
        def run():
            state.ensure_tables(self.engine)
            with self.engine.connect() as conn:
                return list(conn.execute(query))

        return await asyncio.to_thread(run)

    async def write_rows(self, table, **values) -> Any:
        """Inserts one row; returns its primary key."""

        def run():
            state.ensure_tables(self.engine)
            with self.engine.begin() as conn:
                return conn.execute(insert(table).values(**values)).inserted_primary_key[0]

        return await asyncio.to_thread(run)
