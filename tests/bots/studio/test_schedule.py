"""The schedule, plans and hours read back from seeded data; seeding is idempotent."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from bot.db.pool import Database
from studio.models import ScheduleQuery, studio_zone
from studio.schedule import list_plans, list_schedule, opening_hours
from studio.seed import PLANS, TIMETABLE, seed_demo, seed_demo_if_empty
from tests.bots.studio.conftest import ClassFactory, ContactFactory

ZONE = studio_zone()


def next_saturday() -> date:
    today = datetime.now(ZONE).date()
    return today + timedelta(days=(5 - today.weekday()) % 7 or 7)


async def class_count(db: Database) -> int:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.studio_classes")
        row = await cur.fetchone()
    assert row is not None
    n: int = row["n"]
    return n


async def test_seed_is_idempotent(db: Database) -> None:
    await seed_demo(db)
    before = await class_count(db)
    again = await seed_demo(db)
    assert (again.classes, again.plans, again.opening_hours) == (0, 0, 0)
    assert await class_count(db) == before
    assert await seed_demo_if_empty(db) is None  # upcoming classes exist


async def test_seed_fills_fourteen_days_of_the_weekly_timetable(db: Database) -> None:
    await seed_demo(db)
    today = datetime.now(ZONE).date()
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM app.studio_classes WHERE starts_at >= %s AND starts_at < %s"
            " AND room IN ('Studio A', 'Studio B', 'Ride Room')",
            (datetime.combine(today, time(0), tzinfo=ZONE),
             datetime.combine(today + timedelta(days=14), time(0), tzinfo=ZONE)))
        row = await cur.fetchone()
    assert row is not None and row["n"] == 2 * len(TIMETABLE)


async def test_saturday_yoga(db: Database, make_contact: ContactFactory) -> None:
    await seed_demo(db)
    saturday = next_saturday()
    async with db.as_user(await make_contact()) as conn:
        slots = await list_schedule(conn, ScheduleQuery(day=saturday, class_type="yoga"))
        at_nine = await list_schedule(conn, ScheduleQuery(day=saturday, class_type="yoga",
                                                          at=[time(9), time(21)]))
    assert [(s.starts_at.time(), s.title) for s in slots if s.room == "Studio A"] == [
        (time(9), "Vinyasa Flow"), (time(11), "Slow Flow")]
    assert all(s.class_type == "yoga" and s.starts_at.date() == saturday for s in slots)
    assert [s.title for s in at_nine if s.room == "Studio A"] == ["Vinyasa Flow"]


async def test_time_window_and_seats_filters(db: Database, make_contact: ContactFactory,
                                            make_class: ClassFactory) -> None:
    await seed_demo(db)
    tuesday = datetime.now(ZONE).date() + timedelta(days=(1 - datetime.now(ZONE).weekday()) % 7
                                                    or 7)
    async with db.as_user(await make_contact()) as conn:
        evening = await list_schedule(conn, ScheduleQuery(
            day=tuesday, start_time=time(17), end_time=time(22)))
        everything = await list_schedule(conn, ScheduleQuery(day=tuesday, limit=50))
    assert evening and all(time(17) <= s.starts_at.time() <= time(22) for s in evening)
    assert {s.id for s in evening} < {s.id for s in everything}

    full = await make_class(capacity=1, class_type="testing", starts_in=timedelta(hours=30))
    past = await make_class(starts_in=timedelta(minutes=-5))
    person = await make_contact()
    async with db.as_system() as conn:
        await conn.execute("INSERT INTO app.studio_bookings (contact_id, class_id,"
                           " idempotency_key) VALUES (%s, %s, 'fill')", (person, full))
    async with db.as_user(person) as conn:
        listed = await list_schedule(conn, ScheduleQuery(class_type="testing", days_ahead=2,
                                                         limit=50))
        open_only = await list_schedule(conn, ScheduleQuery(
            class_type="testing", days_ahead=2, include_full=False, limit=50))
    assert full in {s.id for s in listed} and past not in {s.id for s in listed}
    assert full not in {s.id for s in open_only}


async def test_plans_and_hours(db: Database, make_contact: ContactFactory) -> None:
    await seed_demo(db)
    async with db.as_user(await make_contact()) as conn:
        plans = await list_plans(conn)
        hours = await opening_hours(conn)
    assert [p.slug for p in plans] == [p.slug for p in PLANS]
    assert plans[3].price_label() == "$149 / month"
    assert [h.weekday for h in hours] == [1, 2, 3, 4, 5, 6, 7]
    assert hours[5].opens == time(7, 30)
