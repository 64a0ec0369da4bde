"""Retention: remembered facts past their expiry, and messages older than RETENTION_DAYS,
are deleted by the workers' periodic purge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bot.db.contacts import purge_expired_context, purge_old_data
from bot.db.logins import app_conninfo
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.settings import Settings
from tests.conftest import (
    RuntimeFactory,
    build_test_settings,
    migrated_database,
    primary_server_url,
    wait_for,
)


async def _fact(db_url: str, contact: object, key: str, expires_at: datetime) -> None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute("INSERT INTO app.user_context (contact_id, key, value, kind,"
                           " expires_at) VALUES (%s, %s, '\"x\"', 'fact', %s)",
                           (contact, key, expires_at))


async def _keys(db_url: str, contact: object) -> list[str]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        rows = await (await conn.execute("SELECT key FROM app.user_context WHERE contact_id ="
                                         " %s ORDER BY key", (contact,))).fetchall()
    return [r[0] for r in rows]


async def test_a_fact_is_purged_once_its_expiry_has_passed(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    db_url: str,
) -> None:
    async with runtime_factory(worker=False) as rt:
        contact = (await rt.ingest(inbound(text="hi"))).contact_id
    now = datetime.now(UTC)
    await _fact(db_url, contact, "for_a_week", now + timedelta(days=7))
    await _fact(db_url, contact, "for_a_day", now + timedelta(days=1))
    await purge_expired_context(db, now)
    assert await _keys(db_url, contact) == ["for_a_day", "for_a_week"]
    # the clock set forward two days: the one-day fact is gone, the week's stays
    assert await purge_expired_context(db, now + timedelta(days=2)) >= 1
    assert await _keys(db_url, contact) == ["for_a_week"]


async def test_the_workers_purge_on_their_own(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    inbound: Callable[..., InboundMessage], db_url: str,
) -> None:
    settings = make_settings(purge_expired_interval_s=0.5)
    async with runtime_factory(settings=settings) as rt:
        contact = (await rt.ingest(inbound(text="hi"))).contact_id
        await _fact(db_url, contact, "expired", datetime.now(UTC) - timedelta(seconds=1))

        async def purged() -> bool:
            return await _keys(db_url, contact) == []
        await wait_for(purged, timeout=30)


async def _count(conninfo: str, query: str, *params: object) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        row = await (await conn.execute(query, params)).fetchone()
    return int(row[0]) if row else 0


async def test_old_messages_go_after_retention_days_and_the_audit_stays(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], tmp_path: Path,
) -> None:
    # Its own database: the clock set forward would purge every other test's messages.
    async with migrated_database(primary_server_url()) as conninfo:
        settings = build_test_settings(conninfo, tmp_path, retention_days=30)
        async with runtime_factory(settings=settings) as rt:
            answered = await rt.ingest(inbound(text="hi"))

            async def replied() -> bool:
                return await _count(conninfo, "SELECT count(*) FROM app.messages WHERE"
                                    " direction = 'out' AND status = 'sent'") >= 1
            await wait_for(replied)
        async with runtime_factory(settings=settings, worker=False) as rt:
            waiting = await rt.ingest(inbound(text="still to answer"))
        db = Database(app_conninfo(conninfo, None), settings)
        await db.open()
        try:
            count = "SELECT count(*) FROM app.messages WHERE conversation_id = %s"
            audit = "SELECT count(*) FROM app.audit_log"
            before = await _count(conninfo, audit)
            now = datetime.now(UTC)
            assert await purge_old_data(db, 30, now + timedelta(days=29)) == 0
            assert await purge_old_data(db, None, now + timedelta(days=400)) == 0
            assert await _count(conninfo, count, answered.conversation_id) >= 2
            # the clock set 31 days forward: the answered exchange goes
            assert await purge_old_data(db, 30, now + timedelta(days=31)) >= 2
            assert await _count(conninfo, count, answered.conversation_id) == 0
            assert await _count(conninfo, "SELECT count(*) FROM app.intent_classifications") == 0
            # never a message still waiting for its answer; the audit only grows
            assert await _count(conninfo, count, waiting.conversation_id) == 1
            assert await _count(conninfo, audit) > before
            assert await _count(conninfo, "SELECT count(*) FROM app.audit_log WHERE"
                                " action = 'purge_old_messages'") == 1
        finally:
            await db.close()
