"""Smart sessions: a new session starts after the inactivity gap (default 7 hours)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from bot.db.conversations import open_session
from bot.db.pool import Database
from bot.models import InboundMessage
from tests.conftest import RuntimeFactory

SEVEN_HOURS = timedelta(hours=7)
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_session_continues_before_and_restarts_at_seven_hours(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    async with runtime_factory(worker=False) as rt:
        r = await rt.ingest(inbound())
    kw = {"conversation_id": r.conversation_id, "contact_id": r.contact_id,
          "inactivity": SEVEN_HOURS}
    async with db.as_user(r.contact_id) as conn:
        first = await open_session(conn, at=T0, **kw)
        same = await open_session(conn, at=T0 + SEVEN_HOURS - timedelta(seconds=1), **kw)
        # activity moved forward, so the gap is measured from the latest message
        still = await open_session(conn, at=T0 + 2 * SEVEN_HOURS - timedelta(seconds=2), **kw)
        new = await open_session(conn, at=T0 + 3 * SEVEN_HOURS, **kw)
        # the boundary itself starts a new session
        after = await open_session(conn, at=T0 + 4 * SEVEN_HOURS, **kw)
        cur = await conn.execute("SELECT status, close_reason FROM app.sessions WHERE id = %s",
                                 (first.id,))
        old = await cur.fetchone()
    assert first.is_new and not same.is_new and not still.is_new and new.is_new
    assert after.is_new and after.id != new.id
    assert same.id == first.id == still.id != new.id
    assert old == {"status": "closed", "close_reason": "inactive"}


async def test_user_context_expiry_purged_by_owner_function(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    db_url: str,
) -> None:
    async with runtime_factory(worker=False) as rt:
        r = await rt.ingest(inbound())
    async with db.as_user(r.contact_id) as conn:
        await conn.execute(
            "INSERT INTO app.user_context (contact_id, key, value, kind, expires_at) VALUES"
            " (%s, 'plan', '\"gold\"', 'fact', now() - interval '1 minute'),"
            " (%s, 'lang', '\"en\"', 'preference', NULL),"
            " (%s, 'cart', '[]', 'state', now() + interval '1 day')",
            (r.contact_id, r.contact_id, r.contact_id))
    async with db.as_system() as conn:  # an owner function: the workers' periodic purge
        cur = await conn.execute("SELECT app.purge_expired() AS n")
        assert (await cur.fetchone()) is not None
    async with db.as_user(r.contact_id) as conn:
        cur = await conn.execute("SELECT key FROM app.user_context WHERE contact_id = %s"
                                 " ORDER BY key", (r.contact_id,))
        keys = [row["key"] for row in await cur.fetchall()]
    assert keys == ["cart", "lang"]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM app.audit_log WHERE action = 'purge_expired'")
        row = await cur.fetchone()
    assert row is not None and row[0] >= 1
