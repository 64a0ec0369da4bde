"""The acting person's bookings: list, book (through app.studio_book), cancel.

Every function runs on a connection from `Database.as_user(contact_id)`. Row-level
security limits what it sees to that person's bookings, and each statement also
names `auth.uid()` explicitly, so a missing policy could not widen it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from bot.db.pool import Conn
from studio.models import (
    LATE_CANCEL_HOURS,
    Booking,
    BookingResult,
    BookOutcome,
    CancelOutcome,
    CancelResult,
    studio_zone,
)
from studio.schedule import get_class, slot_from_row


class NotActingAsUser(RuntimeError):
    """A booking function ran on a connection that is not `Database.as_user`."""


_BOOKING_SQL = """
SELECT b.id AS booking_id, b.status, b.created_at, b.cancelled_at,
       a.id, a.class_type, a.title, a.instructor, a.starts_at, a.duration_minutes, a.room,
       a.capacity, a.seats_left
  FROM app.studio_bookings b JOIN app.studio_class_availability a ON a.id = b.class_id
 WHERE b.contact_id = auth.uid()
"""


async def acting_contact(conn: Conn) -> UUID:
    """The person this connection acts for; refuses a connection that acts for nobody."""
    cur = await conn.execute("SELECT auth.uid() AS uid")
    row = await cur.fetchone()
    if row is None or row["uid"] is None:
        raise NotActingAsUser("use Database.as_user(contact_id) for bookings")
    uid: UUID = row["uid"]
    return uid


def _booking(row: dict[str, Any], tz: ZoneInfo) -> Booking:
    return Booking(id=row["booking_id"], status=row["status"], created_at=row["created_at"],
                   cancelled_at=row["cancelled_at"], slot=slot_from_row(row, tz))


async def get_booking(conn: Conn, booking_id: int, tz: ZoneInfo | None = None) -> Booking | None:
    """One of the acting person's bookings; None for anyone else's."""
    await acting_contact(conn)
    cur = await conn.execute(_BOOKING_SQL + " AND b.id = %s", (booking_id,))
    row = await cur.fetchone()
    return _booking(row, tz or studio_zone()) if row else None


async def my_bookings(conn: Conn, *, include_past: bool = False,
                      include_cancelled: bool = False,
                      tz: ZoneInfo | None = None) -> list[Booking]:
    """The acting person's bookings, soonest class first (upcoming, live ones by default)."""
    await acting_contact(conn)
    sql = _BOOKING_SQL
    if not include_past:
        sql += " AND a.starts_at > now()"
    if not include_cancelled:
        sql += " AND b.status = 'booked'"
    cur = await conn.execute(sql + " ORDER BY a.starts_at, b.id")
    zone = tz or studio_zone()
    return [_booking(row, zone) for row in await cur.fetchall()]


async def book_class(conn: Conn, class_id: int, idempotency_key: str,
                     tz: ZoneInfo | None = None) -> BookingResult:
    """Take a seat in a class for the acting person; the same key never books twice."""
    await acting_contact(conn)
    zone = tz or studio_zone()
    cur = await conn.execute("SELECT outcome, booking_id FROM app.studio_book(%s, %s)",
                             (class_id, idempotency_key))
    row = await cur.fetchone()
    assert row is not None  # a function with OUT parameters always returns one row
    outcome = BookOutcome(row["outcome"])
    booking = await get_booking(conn, row["booking_id"], zone) if row["booking_id"] else None
    slot = booking.slot if booking else await get_class(conn, class_id, zone)
    return BookingResult(outcome=outcome, booking=booking, slot=slot)


async def cancel_booking(conn: Conn, booking_id: int, idempotency_key: str,
                         tz: ZoneInfo | None = None) -> CancelResult:
    """Cancel one of the acting person's bookings (a status change, never a delete).

    Repeating the call with the same key reports the same cancellation again.
    """
    await acting_contact(conn)
    zone = tz or studio_zone()
    cur = await conn.execute(
        "UPDATE app.studio_bookings b SET status = 'cancelled', cancelled_at = now(),"
        "       cancel_key = %(key)s"
        " WHERE b.id = %(id)s AND b.contact_id = auth.uid() AND b.status = 'booked'"
        "   AND EXISTS (SELECT 1 FROM app.studio_classes c"
        "                WHERE c.id = b.class_id AND c.starts_at > now())"
        " RETURNING b.id, b.cancel_key",
        {"id": booking_id, "key": idempotency_key})
    changed = await cur.fetchone() is not None
    booking = await get_booking(conn, booking_id, zone)
    if booking is None:
        return CancelResult(outcome=CancelOutcome.NOT_FOUND)
    if booking.status == "booked":
        # still booked after the update: the class has already started
        return CancelResult(outcome=CancelOutcome.STARTED, booking=booking)
    late = _is_late(booking)
    if changed or await _cancelled_with_key(conn, booking_id, idempotency_key):
        return CancelResult(outcome=CancelOutcome.CANCELLED, booking=booking, late=late)
    return CancelResult(outcome=CancelOutcome.ALREADY_CANCELLED, booking=booking, late=late)


def _is_late(booking: Booking) -> bool:
    if booking.cancelled_at is None:
        return False
    return booking.slot.starts_at - booking.cancelled_at < timedelta(hours=LATE_CANCEL_HOURS)


async def _cancelled_with_key(conn: Conn, booking_id: int, key: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM app.studio_bookings WHERE id = %s AND contact_id = auth.uid()"
        " AND cancel_key = %s", (booking_id, key))
    return await cur.fetchone() is not None
