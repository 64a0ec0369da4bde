"""Remembered facts past their expiry are deleted by the workers' periodic purge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from bot.db.contacts import purge_expired_context
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.settings import Settings
from tests.conftest import RuntimeFactory, wait_for


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
