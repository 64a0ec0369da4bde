"""The connection pool and units of work.

Every read or write of user data runs in a transaction that switches to the
`authenticated` role and sets the acting contact in `request.jwt.claims`, exactly
as PostgREST does on Supabase, so row-level security decides what is visible.
Nothing is kept in session state outside a transaction, which keeps the store
usable through a transaction pooler (set DB_PREPARED_STATEMENTS=false there).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bot.settings import Settings

Row = dict[str, Any]
Conn = psycopg.AsyncConnection[Row]


class Database:
    """A pool of connections and the ways to work in it."""

    def __init__(self, conninfo: str, settings: Settings) -> None:
        self.conninfo = conninfo
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": max(1, int(settings.db_connect_timeout_s)),
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        }
        if not settings.db_prepared_statements:
            kwargs["prepare_threshold"] = None
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            conninfo,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            kwargs=kwargs,
            open=False,
            timeout=settings.db_connect_timeout_s,
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def as_user(self, contact_id: UUID) -> AsyncIterator[Conn]:
        """A transaction acting as one contact: RLS limits it to that contact's rows."""
        claims = json.dumps({"sub": str(contact_id), "role": "authenticated"})
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT set_config('role', 'authenticated', true),"
                " set_config('request.jwt.claims', %s, true)",
                (claims,),
            )
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Conn]:
        """A connection without a transaction, for single owner-privileged function calls."""
        async with self.pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def as_system(self) -> AsyncIterator[Conn]:
        """A transaction as the login role, for owner-privileged functions only."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
            return True
        except Exception:
            return False
