"""Units of work: the user's scope, commit and rollback, in both sending modes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import UUID, uuid4

import psycopg
import pytest

from bot.db.pool import Database, after_commit
from bot.settings import Settings


@pytest.fixture
async def counted(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[Database,
                                                                                 list[int]]]:
    trips: list[int] = []
    database = Database(make_settings().database_url or "", make_settings(),
                        on_round_trip=lambda: trips.append(1))
    await database.open()
    yield database, trips
    await database.close()


async def _new_contact(db: Database) -> UUID:
    async with db.as_system() as conn:
        cur = await conn.execute("INSERT INTO app.contacts (display_name) VALUES ('p')"
                                 " RETURNING id")
        row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def _names(db: Database, contact: UUID) -> list[str]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT key FROM app.user_context WHERE contact_id = %s"
                                 " ORDER BY key", (contact,))
        return [str(r["key"]) for r in await cur.fetchall()]


_REMEMBER = ("INSERT INTO app.user_context (contact_id, key, value, kind)"
             " VALUES (%s, %s, '1', 'fact')")


@pytest.mark.parametrize("pipeline", [False, True])
async def test_a_unit_of_work_sees_only_the_acting_contact(
        counted: tuple[Database, list[int]], pipeline: bool) -> None:
    db, _ = counted
    me, other = await _new_contact(db), await _new_contact(db)
    async with db.as_user(me, pipeline=pipeline) as conn:
        cur = await conn.execute("SELECT id FROM app.contacts ORDER BY id")
        visible = [r["id"] for r in await cur.fetchall()]
        cur = await conn.execute("SELECT current_user AS who")
        who = await cur.fetchone()
    assert visible == [me] and other not in visible
    assert who is not None and who["who"] == "authenticated"


@pytest.mark.parametrize("pipeline", [False, True])
async def test_commits_at_the_end_and_rolls_back_on_error(
        counted: tuple[Database, list[int]], pipeline: bool) -> None:
    db, _ = counted
    me = await _new_contact(db)
    async with db.as_user(me, pipeline=pipeline) as conn:
        await conn.execute(_REMEMBER, (me, "kept"))
    with pytest.raises(RuntimeError):
        async with db.as_user(me, pipeline=pipeline) as conn:
            await conn.execute(_REMEMBER, (me, "dropped"))
            raise RuntimeError("the caller failed")
    # A database error inside the unit rolls back everything it wrote.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(me, pipeline=pipeline) as conn:
            await conn.execute(_REMEMBER, (me, "also dropped"))
            await conn.execute(_REMEMBER, (uuid4(), "another contact's"))
    assert await _names(db, me) == ["kept"]
    # The connection went back to the pool clean: the next unit works.
    async with db.as_user(me, pipeline=pipeline) as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.user_context")
        row = await cur.fetchone()
    assert row is not None and row["n"] == 1


async def test_round_trips_are_counted(counted: tuple[Database, list[int]]) -> None:
    db, trips = counted
    me = await _new_contact(db)
    trips.clear()
    async with db.as_user(me) as conn:  # BEGIN + claims, one statement, COMMIT
        await conn.execute(_REMEMBER, (me, "a"))
    assert len(trips) == 3
    trips.clear()
    async with db.as_user(me, pipeline=True) as conn:  # writes only: all in one go
        await conn.execute(_REMEMBER, (me, "b"))
        await conn.execute(_REMEMBER, (me, "c"))
    assert len(trips) == 1
    trips.clear()
    async with db.as_user(me, pipeline=True) as conn:  # one read waits for the server
        await conn.execute(_REMEMBER, (me, "d"))
        cur = await conn.execute("SELECT count(*) AS n FROM app.user_context")
        row = await cur.fetchone()
    assert row is not None and row["n"] == 4
    assert len(trips) == 2
    trips.clear()
    async with db.as_user(me, pipeline=True) as conn:  # reads queued, then fetched
        first = await conn.execute("SELECT count(*) AS n FROM app.user_context")
        second = await conn.execute("SELECT count(*) AS n FROM app.contacts")
        counts = [await first.fetchone(), await second.fetchone()]
    assert [r["n"] for r in counts if r] == [4, 1]
    assert len(trips) == 2  # the first fetch brought both answers


async def test_a_one_trip_unit_reads_and_writes_in_one_round_trip(
        counted: tuple[Database, list[int]]) -> None:
    db, trips = counted
    me, _someone_else = await _new_contact(db), await _new_contact(db)
    trips.clear()
    async with db.in_one_trip(me) as unit:
        unit.add(_REMEMBER, (me, "a"))
        count = unit.add("SELECT count(*) AS n FROM app.user_context")
        contacts = unit.add("SELECT id FROM app.contacts ORDER BY id")
        who = unit.add("SELECT current_user AS who")
    assert len(trips) == 1
    assert count.one() == {"n": 1}  # sees its own write
    assert [r["id"] for r in contacts.rows] == [me]  # not the other contact
    assert who.one() == {"who": "authenticated"}


async def test_a_failing_one_trip_unit_keeps_nothing(counted: tuple[Database, list[int]]) -> None:
    db, _ = counted
    me = await _new_contact(db)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.in_one_trip(me) as unit:
            unit.add(_REMEMBER, (me, "dropped"))
            unit.add(_REMEMBER, (uuid4(), "another contact's"))
            unit.add(_REMEMBER, (me, "after the error"))
    assert await _names(db, me) == []
    async with db.in_one_trip(me) as unit:  # the connection went back clean
        unit.add(_REMEMBER, (me, "kept"))
    assert await _names(db, me) == ["kept"]


async def test_a_pipelined_cursor_read_after_the_unit_costs_no_round_trip(
        counted: tuple[Database, list[int]]) -> None:
    db, trips = counted
    me = await _new_contact(db)
    trips.clear()
    async with db.as_user(me, pipeline=True) as conn:
        await conn.execute(_REMEMBER, (me, "a"))
        cur = await conn.execute("SELECT count(*) AS n FROM app.user_context")
    assert await cur.fetchone() == {"n": 1}
    assert len(trips) == 1


@pytest.mark.parametrize("pipeline", [False, True])
async def test_what_a_change_announces_waits_for_its_commit_and_never_follows_a_rollback(
        db: Database, pipeline: bool) -> None:
    contact = await _new_contact(db)
    done: list[str] = []
    async with db.as_user(contact, pipeline=pipeline) as conn:
        await conn.execute("INSERT INTO app.user_context (contact_id, key, value, kind)"
                           " VALUES (%s, 'kept', '1', 'fact')", (contact,))
        after_commit(lambda: done.append("kept"))
        assert done == [], "not before the commit"
    assert done == ["kept"]
    with pytest.raises(psycopg.errors.UniqueViolation):
        async with db.as_user(contact, pipeline=pipeline) as conn:
            after_commit(lambda: done.append("rolled back"))
            await conn.execute("INSERT INTO app.user_context (contact_id, key, value, kind)"
                               " VALUES (%s, 'kept', '2', 'fact')", (contact,))
            await (await conn.execute("SELECT 1")).fetchone()
    async with db.as_system():
        after_commit(lambda: done.append("system"))
    after_commit(lambda: done.append("outside any transaction"))
    assert done == ["kept", "system", "outside any transaction"]
