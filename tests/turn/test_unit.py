"""The turn's unit of work: everything a turn appended goes to the database in one
transaction and one round trip, or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import UUID

import psycopg
import pytest

from bot.db.pool import Conn, Database
from bot.models import StreamEvent
from bot.routing.responder import RowWrite
from bot.settings import Settings
from bot.turn.unit import TurnUnit


@pytest.fixture
async def counted(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[Database,
                                                                                 list[int]]]:
    trips: list[int] = []
    database = Database(make_settings().database_url, make_settings(),
                        on_round_trip=lambda: trips.append(1))
    await database.open()
    yield database, trips
    await database.close()


async def _contact(db: Database) -> UUID:
    async with db.as_system() as conn:
        cur = await conn.execute("INSERT INTO app.contacts (display_name) VALUES ('u')"
                                 " RETURNING id")
        row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


def _remember(contact: UUID, key: str) -> RowWrite:
    async def write(conn: Conn) -> None:
        await conn.execute("INSERT INTO app.user_context (contact_id, key, value, kind)"
                           " VALUES (%s, %s, '1', 'fact')", (contact, key))
    return write


async def _keys(db: Database, contact: UUID) -> list[str]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT key FROM app.user_context WHERE contact_id = %s"
                                 " ORDER BY key", (contact,))
        return [str(r["key"]) for r in await cur.fetchall()]


async def test_rows_and_events_commit_together_in_one_round_trip(
        counted: tuple[Database, list[int]]) -> None:
    db, trips = counted
    contact = await _contact(db)
    unit = TurnUnit(db, contact)
    unit.write(_remember(contact, "a"))
    unit.write(_remember(contact, "b"))
    unit.publish(StreamEvent(message_id=1, event="text_delta", data={"text": "hi"}))
    before = len(trips)
    await unit.commit()
    assert len(trips) - before == 1
    assert await _keys(db, contact) == ["a", "b"]
    assert unit.rows == [] and unit.events == [], "committed: nothing is written twice"


async def test_a_failing_row_leaves_nothing_of_the_turn(db: Database) -> None:
    contact = await _contact(db)
    unit = TurnUnit(db, contact)
    unit.write(_remember(contact, "kept-out"))
    unit.write(_remember(contact, "kept-out"))  # the same key again
    with pytest.raises(psycopg.errors.UniqueViolation):
        await unit.commit()
    assert await _keys(db, contact) == []


async def test_a_failed_turn_stores_its_rows_without_its_events(db: Database) -> None:
    contact = await _contact(db)
    unit = TurnUnit(db, contact)
    unit.write(_remember(contact, "cost"))
    unit.publish(StreamEvent(message_id=1, event="text_delta", data={"text": "never"}))
    await unit.commit_rows_after_failure()
    assert await _keys(db, contact) == ["cost"]
    assert unit.rows == [], "stored once"
