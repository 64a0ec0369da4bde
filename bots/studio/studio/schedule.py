"""Read the public studio data: classes with seats left, plans, opening hours."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.db.pool import Conn
from studio.models import (
    AT_TOLERANCE_MINUTES,
    ClassSlot,
    OpeningHours,
    Plan,
    ScheduleQuery,
    studio_zone,
)

SLOT_COLUMNS = ("id, class_type, title, instructor, starts_at, duration_minutes, room,"
                " capacity, seats_left")

_SCHEDULE_SQL = f"""
SELECT {SLOT_COLUMNS} FROM app.studio_class_availability
 WHERE starts_at > now() AND starts_at >= %(from)s AND starts_at < %(to)s
   AND (%(type)s::text IS NULL OR class_type = %(type)s::text)
   AND (%(start)s::time IS NULL OR (starts_at AT TIME ZONE %(tz)s)::time >= %(start)s::time)
   AND (%(end)s::time IS NULL OR (starts_at AT TIME ZONE %(tz)s)::time <= %(end)s::time)
   AND (cardinality(%(at)s::time[]) = 0 OR EXISTS (
        SELECT 1 FROM unnest(%(at)s::time[]) a
         WHERE (starts_at AT TIME ZONE %(tz)s)::time
               BETWEEN a - %(slack)s::interval AND a + %(slack)s::interval))
   AND (%(include_full)s OR seats_left > 0)
 ORDER BY starts_at, room
 LIMIT %(limit)s
"""


def slot_from_row(row: dict[str, Any], tz: ZoneInfo) -> ClassSlot:
    values = {k: row[k] for k in ClassSlot.model_fields}
    values["starts_at"] = row["starts_at"].astimezone(tz)
    return ClassSlot(**values)


def schedule_range(query: ScheduleQuery, tz: ZoneInfo,
                   now: datetime | None = None) -> tuple[datetime, datetime]:
    """The [from, to) instants a query covers: its local day, or the coming days."""
    if query.day is not None:
        start = datetime.combine(query.day, time(0), tzinfo=tz)
        return start, datetime.combine(query.day + timedelta(days=1), time(0), tzinfo=tz)
    current = now or datetime.now(tz)
    return current, current + timedelta(days=query.days_ahead)


async def list_schedule(conn: Conn, query: ScheduleQuery,
                        tz: ZoneInfo | None = None) -> list[ClassSlot]:
    """Upcoming classes matching the query, earliest first, with seats left."""
    zone = tz or studio_zone()
    start, end = schedule_range(query, zone)
    cur = await conn.execute(_SCHEDULE_SQL, {
        "from": start, "to": end, "type": query.class_type, "start": query.start_time,
        "end": query.end_time, "at": query.at, "tz": zone.key,
        "include_full": query.include_full, "limit": query.limit,
        "slack": timedelta(minutes=AT_TOLERANCE_MINUTES),
    })
    return [slot_from_row(row, zone) for row in await cur.fetchall()]


async def get_class(conn: Conn, class_id: int, tz: ZoneInfo | None = None) -> ClassSlot | None:
    """One class by id, whether or not it has started."""
    cur = await conn.execute(
        f"SELECT {SLOT_COLUMNS} FROM app.studio_class_availability WHERE id = %s", (class_id,))
    row = await cur.fetchone()
    return slot_from_row(row, tz or studio_zone()) if row else None


async def list_plans(conn: Conn) -> list[Plan]:
    """Membership plans and passes, in display order."""
    cur = await conn.execute(
        "SELECT slug, name, price_cents, currency, period, description, perks"
        " FROM app.studio_plans ORDER BY sort_order, price_cents")
    return [Plan(**row) for row in await cur.fetchall()]


async def opening_hours(conn: Conn) -> list[OpeningHours]:
    """Regular weekly opening hours, Monday first."""
    cur = await conn.execute(
        "SELECT weekday, opens, closes, note FROM app.studio_opening_hours ORDER BY weekday")
    return [OpeningHours(**row) for row in await cur.fetchall()]
