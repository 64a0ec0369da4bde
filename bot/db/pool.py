"""The connection pool and units of work.

Every read or write of user data runs in a transaction that switches to the
`authenticated` role and sets the acting contact in `request.jwt.claims`, exactly
as PostgREST does on Supabase, so row-level security decides what is visible.
Nothing is kept in session state outside a transaction, which keeps the store
usable through a transaction pooler (set DB_PREPARED_STATEMENTS=false there).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from bot.settings import Settings

Row = dict[str, Any]
Conn = psycopg.AsyncConnection[Row]

# BEGIN and the role switch go to the server as one simple-protocol query: one round
# trip instead of two. The claims are a quoted literal, never spliced text.
_USER_PROLOGUE = sql.SQL(
    "BEGIN; SELECT set_config('role', 'authenticated', true),"
    " set_config('request.jwt.claims', {}, true)")


_SET_CLAIMS = ("SELECT set_config('role', 'authenticated', true),"
               " set_config('request.jwt.claims', %s, true)")

# Work no single contact owns runs as service_role (migrations/0730_app_login_role.sql):
# the login role itself can read nothing, so RESET ROLE inside a unit of work gains nothing.
_SYSTEM_ROLE = "SET LOCAL ROLE service_role"
_SYSTEM_PROLOGUE = "BEGIN; " + _SYSTEM_ROLE


# What the transaction the current task is in will do once it commits.
_AFTER_COMMIT: ContextVar[list[Callable[[], object]] | None] = ContextVar("after_commit",
                                                                         default=None)


def after_commit(action: Callable[[], object]) -> None:
    """Do `action` once the transaction this code runs in has committed, never if it rolls
    back: a hook event or a metric must not announce a change that did not happen. Outside
    a transaction it is done at once."""
    pending = _AFTER_COMMIT.get()
    if pending is None:
        action()
    else:
        pending.append(action)


@contextmanager
def _collecting_after_commit() -> Iterator[list[Callable[[], object]]]:
    actions: list[Callable[[], object]] = []
    token = _AFTER_COMMIT.set(actions)
    try:
        yield actions
    finally:
        _AFTER_COMMIT.reset(token)


def _run(actions: list[Callable[[], object]]) -> None:
    for action in actions:
        action()


class _CountingCursor(psycopg.AsyncCursor[Row]):
    """Counts round trips, so the database cost of a turn can be measured.

    Outside pipeline mode every statement is one. In pipeline mode statements are
    queued; a fetch whose result has not arrived yet waits for the server (and
    receives the results of everything queued before it), and so does the end of the
    unit of work (counted by `Database`).
    """

    on_round_trip: Callable[[], None] | None = None
    _awaiting = False

    async def execute(self, *args: Any, **kwargs: Any) -> _CountingCursor:
        pipelined = self.connection._pipeline is not None
        if self.on_round_trip is not None and not pipelined:
            self.on_round_trip()
        self._awaiting = pipelined
        await super().execute(*args, **kwargs)
        return self

    def _fetched(self) -> None:
        if self._awaiting and self.pgresult is None and self.on_round_trip is not None:
            self.on_round_trip()
        self._awaiting = False

    async def fetchone(self) -> Row | None:
        self._fetched()
        return await super().fetchone()

    async def fetchall(self) -> list[Row]:
        self._fetched()
        return await super().fetchall()

    async def fetchmany(self, size: int = 0) -> list[Row]:
        self._fetched()
        return await super().fetchmany(size)


class QueuedStatement:
    """One statement of a `Database.in_one_trip` unit; its rows are readable after the
    unit has committed."""

    def __init__(self, query: str, params: tuple[Any, ...] | None) -> None:
        self.query = query
        self.params = params
        self.rows: list[Row] = []

    def one(self) -> Row | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None


class OneTripUnit:
    """Statements queued to run together as one transaction in one round trip."""

    def __init__(self) -> None:
        self.statements: list[QueuedStatement] = []

    def add(self, query: str, params: tuple[Any, ...] | None = None) -> QueuedStatement:
        """Queue a statement; its parameters cannot depend on another's result."""
        statement = QueuedStatement(query, params)
        self.statements.append(statement)
        return statement


class Database:
    """A pool of connections and the ways to work in it."""

    def __init__(self, conninfo: str | None, settings: Settings,
                 on_round_trip: Callable[[], None] | None = None) -> None:
        """`conninfo` may be given to `open` instead: a process builds its parts before it
        knows where the database is (the embedded server starts with the process)."""
        self._conninfo = conninfo
        self.settings = settings
        self._on_round_trip = on_round_trip
        self._pool: AsyncConnectionPool[Conn] | None = None

    @property
    def conninfo(self) -> str:
        assert self._conninfo is not None, "database not opened"
        return self._conninfo

    @property
    def pool(self) -> AsyncConnectionPool[Conn]:
        assert self._pool is not None, "database not opened"
        return self._pool

    def _build_pool(self, conninfo: str) -> AsyncConnectionPool[Conn]:
        settings = self.settings
        count = staticmethod(self._on_round_trip) if self._on_round_trip else None
        cursor_class = type("Cursor", (_CountingCursor,), {"on_round_trip": count})
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": max(1, int(settings.db_connect_timeout_s)),
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "cursor_factory": cursor_class,
        }
        if not settings.db_prepared_statements:
            kwargs["prepare_threshold"] = None
        return AsyncConnectionPool(
            conninfo,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            kwargs=kwargs,
            open=False,
            timeout=settings.db_connect_timeout_s,
        )

    async def open(self, conninfo: str | None = None) -> None:
        if conninfo is not None:
            self._conninfo = conninfo
        self._pool = self._build_pool(self.conninfo)
        await self._pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @asynccontextmanager
    async def as_user(self, contact_id: UUID, *, pipeline: bool = False) -> AsyncIterator[Conn]:
        """A transaction acting as one contact: RLS limits it to that contact's rows.

        With `pipeline=True` statements are queued and sent together (psycopg pipeline
        mode): a unit of work that only writes costs one round trip, and each fetch one
        more. Errors then surface at the next fetch or at the end of the block, so only
        units that do not catch database errors midway use it. A cursor first read
        after the block costs nothing: the closing sync (with COMMIT) brought its rows.
        """
        claims = json.dumps({"sub": str(contact_id), "role": "authenticated"})
        if pipeline:
            async with self.pool.connection() as conn:
                with _collecting_after_commit() as committed:
                    async with conn.pipeline(), conn.transaction():
                        await conn.execute(_SET_CLAIMS, (claims,))
                        yield conn
                if self._on_round_trip is not None:
                    self._on_round_trip()  # the sync that sends COMMIT
            _run(committed)
            return
        async with self._transaction(_USER_PROLOGUE.format(sql.Literal(claims))) as conn:
            yield conn

    @asynccontextmanager
    async def in_one_trip(self, contact_id: UUID) -> AsyncIterator[OneTripUnit]:
        """A unit of work acting as one contact whose statements are known up front:
        BEGIN, the claims, the statements and COMMIT go to the server together and come
        back in one round trip. The rows are read after the block.

        A failing statement rolls the whole unit back and raises at the end of the block.
        """
        unit = OneTripUnit()
        yield unit
        claims = json.dumps({"sub": str(contact_id), "role": "authenticated"})
        await self._run_one_trip(unit, _SET_CLAIMS, (claims,))

    async def call_as_system(self, query: str, params: tuple[Any, ...]) -> list[Row]:
        """One statement as service_role in one round trip (BEGIN, the role, the statement
        and COMMIT together): an owner-privileged function call on a hot path."""
        unit = OneTripUnit()
        statement = unit.add(query, params)
        await self._run_one_trip(unit, _SYSTEM_ROLE, None)
        return statement.rows

    async def _run_one_trip(self, unit: OneTripUnit, role: str,
                            role_params: tuple[Any, ...] | None) -> None:
        if not unit.statements:
            return
        async with self.pool.connection() as conn:
            try:
                async with conn.pipeline() as pipeline:
                    await conn.execute("BEGIN")
                    await conn.execute(role, role_params)
                    cursors = [await conn.execute(st.query, st.params)
                               for st in unit.statements]
                    await conn.execute("COMMIT")
                    await pipeline.sync()
                    if self._on_round_trip is not None:
                        self._on_round_trip()
                    for st, cur in zip(unit.statements, cursors, strict=True):
                        st.rows = await cur.fetchall() if cur.description else []
            except BaseException:
                # After an error the server skipped the rest, COMMIT included.
                with suppress(psycopg.Error):
                    await conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def as_system(self) -> AsyncIterator[Conn]:
        """A transaction as service_role, for work no single contact owns (docs/security.md
        lists where and why)."""
        async with self._transaction(sql.SQL(_SYSTEM_PROLOGUE)) as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self, prologue: sql.SQL | sql.Composed) -> AsyncIterator[Conn]:
        """BEGIN and the role in one simple-protocol query, the block, then COMMIT."""
        async with self.pool.connection() as conn:
            with _collecting_after_commit() as committed:
                await conn.execute(prologue)
                try:
                    yield conn
                except BaseException:
                    # The pool also rolls back a connection returned inside a transaction;
                    # doing it here keeps the connection clean for the next unit of work.
                    with suppress(psycopg.Error):
                        await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")
        _run(committed)

    async def ping(self) -> bool:
        try:
            async with self.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
            return True
        except Exception:
            return False
