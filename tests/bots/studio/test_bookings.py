"""Booking and cancelling through the domain functions, on the real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

import psycopg
import pytest

from bot.db.pool import Database
from studio.bookings import (
    NotActingAsUser,
    book_class,
    cancel_booking,
    get_booking,
    my_bookings,
)
from studio.models import BookOutcome, CancelOutcome
from studio.schedule import get_class
from tests.bots.studio.conftest import ClassFactory, ContactFactory


async def booked_rows(db: Database, class_id: int) -> list[dict[str, object]]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT id, contact_id, status FROM app.studio_bookings"
                                 " WHERE class_id = %s ORDER BY id", (class_id,))
        return await cur.fetchall()


async def test_booking_is_idempotent_on_its_key(db: Database, make_contact: ContactFactory,
                                                make_class: ClassFactory) -> None:
    a, class_id = await make_contact(), await make_class()
    async with db.as_user(a) as conn:
        first = await book_class(conn, class_id, "msg-1:call-1")
    async with db.as_user(a) as conn:
        again = await book_class(conn, class_id, "msg-1:call-1")
    assert first.outcome is again.outcome is BookOutcome.BOOKED
    assert first.booking is not None and again.booking is not None
    assert first.booking.id == again.booking.id
    assert len(await booked_rows(db, class_id)) == 1
    async with db.as_user(a) as conn:
        other_key = await book_class(conn, class_id, "msg-2:call-1")
        mine = await my_bookings(conn)
    assert other_key.outcome is BookOutcome.ALREADY_BOOKED
    assert [b.id for b in mine if b.slot.id == class_id] == [first.booking.id]


async def test_same_key_racing_books_once(db: Database, make_contact: ContactFactory,
                                          make_class: ClassFactory) -> None:
    a, class_id = await make_contact(), await make_class()

    async def attempt() -> int | None:
        async with db.as_user(a) as conn:
            result = await book_class(conn, class_id, "same-key")
        return result.booking.id if result.booking else None

    ids = await asyncio.gather(*(attempt() for _ in range(6)))
    assert len(set(ids)) == 1 and ids[0] is not None
    assert len(await booked_rows(db, class_id)) == 1


async def test_capacity_holds_under_concurrent_bookings(
        db: Database, make_contact: ContactFactory, make_class: ClassFactory) -> None:
    class_id = await make_class(capacity=3)
    people = [await make_contact() for _ in range(10)]

    async def attempt(person: UUID) -> BookOutcome:
        async with db.as_user(person) as conn:
            return (await book_class(conn, class_id, f"key-{person}")).outcome

    outcomes = await asyncio.gather(*(attempt(p) for p in people))
    assert outcomes.count(BookOutcome.BOOKED) == 3
    assert outcomes.count(BookOutcome.FULL) == 7
    assert len(await booked_rows(db, class_id)) == 3
    async with db.as_user(people[0]) as conn:
        slot = await get_class(conn, class_id)
    assert slot is not None and slot.seats_left == 0 and slot.full


async def test_cancel_is_a_status_change(db: Database, make_contact: ContactFactory,
                                         make_class: ClassFactory) -> None:
    a, class_id = await make_contact(), await make_class()
    async with db.as_user(a) as conn:
        booked = await book_class(conn, class_id, "book")
    assert booked.booking is not None
    booking_id = booked.booking.id
    async with db.as_user(a) as conn:
        first = await cancel_booking(conn, booking_id, "cancel-1")
    async with db.as_user(a) as conn:
        replay = await cancel_booking(conn, booking_id, "cancel-1")
        other = await cancel_booking(conn, booking_id, "cancel-2")
        listed = await my_bookings(conn, include_cancelled=True)
    assert first.outcome is replay.outcome is CancelOutcome.CANCELLED
    assert other.outcome is CancelOutcome.ALREADY_CANCELLED
    assert first.booking is not None and first.booking.status == "cancelled"
    assert first.booking.cancelled_at is not None and not first.late
    assert [r["status"] for r in await booked_rows(db, class_id)] == ["cancelled"]
    assert any(b.id == booking_id and b.status == "cancelled" for b in listed)
    # the seat is free again and the person may book it anew
    async with db.as_user(a) as conn:
        rebooked = await book_class(conn, class_id, "book-again")
    assert rebooked.outcome is BookOutcome.BOOKED
    assert rebooked.booking is not None and rebooked.booking.id != booking_id


async def test_app_role_cannot_delete_or_reopen_bookings(
        db: Database, make_contact: ContactFactory, make_class: ClassFactory) -> None:
    a, class_id = await make_contact(), await make_class()
    async with db.as_user(a) as conn:
        booked = await book_class(conn, class_id, "k")
        assert booked.booking is not None
        await cancel_booking(conn, booked.booking.id, "c")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute("DELETE FROM app.studio_bookings WHERE contact_id = %s", (a,))
    # reopening a cancelled booking would skip the capacity check
    async with db.as_user(a) as conn:
        cur = await conn.execute("UPDATE app.studio_bookings SET status = 'booked',"
                                 " cancelled_at = NULL WHERE contact_id = %s RETURNING id", (a,))
        assert await cur.fetchall() == []
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute("UPDATE app.studio_bookings SET class_id = class_id")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute("INSERT INTO app.studio_bookings (contact_id, class_id,"
                               " idempotency_key) VALUES (%s, %s, 'direct')", (a, class_id))


async def test_late_cancellation_and_started_classes(
        db: Database, make_contact: ContactFactory, make_class: ClassFactory) -> None:
    a = await make_contact()
    soon = await make_class(starts_in=timedelta(hours=2))
    past = await make_class(starts_in=timedelta(hours=-1))
    async with db.as_user(a) as conn:
        booked = await book_class(conn, soon, "soon")
        assert booked.booking is not None
        cancelled = await cancel_booking(conn, booked.booking.id, "c-soon")
        started = await book_class(conn, past, "past")
        missing = await book_class(conn, 2**62, "nothing")
    assert cancelled.outcome is CancelOutcome.CANCELLED and cancelled.late
    assert started.outcome is BookOutcome.STARTED and started.booking is None
    assert missing.outcome is BookOutcome.NOT_FOUND and missing.slot is None


async def test_booking_needs_an_acting_user(db: Database, make_class: ClassFactory) -> None:
    class_id = await make_class()
    with pytest.raises(NotActingAsUser):
        async with db.as_system() as conn:
            await book_class(conn, class_id, "k")


async def test_other_people_cannot_see_or_cancel_a_booking(
        db: Database, make_contact: ContactFactory, make_class: ClassFactory) -> None:
    a, b, class_id = await make_contact(), await make_contact(), await make_class(capacity=5)
    async with db.as_user(a) as conn:
        booked = await book_class(conn, class_id, "a-key")
    assert booked.booking is not None
    a_booking = booked.booking.id

    # through the domain functions
    async with db.as_user(b) as conn:
        assert await get_booking(conn, a_booking) is None
        assert all(x.id != a_booking for x in await my_bookings(conn, include_past=True,
                                                                include_cancelled=True))
        attempt = await cancel_booking(conn, a_booking, "b-cancel")
        b_own = await book_class(conn, class_id, "a-key")  # the same key is B's own key
    assert attempt.outcome is CancelOutcome.NOT_FOUND and attempt.booking is None
    assert b_own.outcome is BookOutcome.BOOKED
    assert b_own.booking is not None and b_own.booking.id != a_booking

    # and with raw SQL acting as B
    async with db.as_user(b) as conn:
        cur = await conn.execute("SELECT id, contact_id FROM app.studio_bookings")
        assert {r["contact_id"] for r in await cur.fetchall()} == {b}
        cur = await conn.execute("UPDATE app.studio_bookings SET status = 'cancelled',"
                                 " cancelled_at = now() WHERE id = %s RETURNING id", (a_booking,))
        assert await cur.fetchall() == []
        cur = await conn.execute("SELECT seats_left FROM app.studio_class_availability"
                                 " WHERE id = %s", (class_id,))
        assert await cur.fetchone() == {"seats_left": 3}  # counts A's seat, names nobody
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(b) as conn:
            await conn.execute("UPDATE app.studio_bookings SET contact_id = %s"
                               " WHERE id = %s", (b, a_booking))
    rows = await booked_rows(db, class_id)
    assert {(r["id"], r["contact_id"], r["status"]) for r in rows} == {
        (a_booking, a, "booked"), (b_own.booking.id, b, "booked")}
