"""Demo data: a weekly timetable rolled out over the coming days, plans and hours.

Seeding only adds rows that are not there (unique room + start time, plan slug,
weekday), so it is safe to run again and from several processes at once.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.db.pool import Database
from studio.models import Plan, SeedReport, studio_zone


class WeeklyClass(NamedTuple):
    weekday: int  # ISO, 1 = Monday
    start: str  # local "HH:MM"
    class_type: str
    title: str
    instructor: str
    minutes: int
    capacity: int
    room: str


A, B, RIDE = "Studio A", "Studio B", "Ride Room"
TIMETABLE: tuple[WeeklyClass, ...] = (
    WeeklyClass(1, "06:30", "spin", "Sunrise Ride", "Jonah Reyes", 45, 24, RIDE),
    WeeklyClass(1, "12:15", "hiit", "HIIT Express", "Priya Nair", 30, 16, B),
    WeeklyClass(1, "18:00", "yoga", "Vinyasa Flow", "Maya Chen", 60, 20, A),
    WeeklyClass(1, "19:15", "boxing", "Boxing Basics", "Marcus Hale", 50, 14, B),
    WeeklyClass(2, "06:30", "hiit", "HIIT Burn", "Priya Nair", 45, 16, B),
    WeeklyClass(2, "09:30", "pilates", "Mat Pilates", "Lena Fischer", 50, 14, A),
    WeeklyClass(2, "12:15", "spin", "Lunch Ride", "Jonah Reyes", 45, 24, RIDE),
    WeeklyClass(2, "18:00", "strength", "Strong Foundations", "Sam O'Connor", 50, 16, B),
    WeeklyClass(2, "19:15", "yoga", "Yin Yoga", "Maya Chen", 60, 20, A),
    WeeklyClass(3, "06:30", "spin", "Sunrise Ride", "Jonah Reyes", 45, 24, RIDE),
    WeeklyClass(3, "12:15", "yoga", "Lunchtime Flow", "Maya Chen", 45, 20, A),
    WeeklyClass(3, "18:00", "boxing", "Boxing Conditioning", "Marcus Hale", 50, 14, B),
    WeeklyClass(3, "19:15", "pilates", "Pilates Core", "Lena Fischer", 50, 14, A),
    WeeklyClass(4, "06:30", "hiit", "HIIT Burn", "Priya Nair", 45, 16, B),
    WeeklyClass(4, "09:30", "barre", "Barre Sculpt", "Lena Fischer", 50, 16, A),
    WeeklyClass(4, "12:15", "spin", "Lunch Ride", "Jonah Reyes", 45, 24, RIDE),
    WeeklyClass(4, "18:00", "yoga", "Vinyasa Flow", "Maya Chen", 60, 20, A),
    WeeklyClass(4, "19:15", "hiit", "HIIT After Dark", "Priya Nair", 45, 16, B),
    WeeklyClass(5, "06:30", "spin", "Sunrise Ride", "Jonah Reyes", 45, 24, RIDE),
    WeeklyClass(5, "12:15", "pilates", "Mat Pilates", "Lena Fischer", 50, 14, A),
    WeeklyClass(5, "17:30", "yoga", "Friday Unwind Flow", "Maya Chen", 60, 20, A),
    WeeklyClass(6, "08:00", "spin", "Saturday Climb", "Jonah Reyes", 45, 24, RIDE),
    WeeklyClass(6, "09:00", "yoga", "Vinyasa Flow", "Maya Chen", 60, 20, A),
    WeeklyClass(6, "10:15", "hiit", "Weekend HIIT", "Priya Nair", 45, 16, B),
    WeeklyClass(6, "11:00", "yoga", "Slow Flow", "Maya Chen", 60, 20, A),
    WeeklyClass(6, "12:00", "boxing", "Boxing Basics", "Marcus Hale", 50, 14, B),
    WeeklyClass(7, "09:30", "pilates", "Sunday Pilates", "Lena Fischer", 50, 14, A),
    WeeklyClass(7, "10:00", "strength", "Full-Body Strength", "Sam O'Connor", 50, 16, B),
    WeeklyClass(7, "11:00", "yoga", "Yin Yoga", "Maya Chen", 60, 20, A),
    WeeklyClass(7, "17:00", "stretch", "Stretch & Restore", "Sam O'Connor", 45, 20, A),
)

PLANS: tuple[Plan, ...] = (
    Plan(slug="drop-in", name="Drop-in", price_cents=2500, period="visit",
         description="One class, any type.", perks=["No commitment", "Mat and towel included"]),
    Plan(slug="intro-week", name="Intro Week", price_cents=2900, period="week",
         description="Seven days of unlimited classes for first-timers.",
         perks=["Unlimited classes for 7 days", "Free studio tour", "One per person"]),
    Plan(slug="essentials", name="Essentials", price_cents=9900, period="month",
         description="Eight classes a month.",
         perks=["8 classes per month", "Book 7 days ahead", "1 guest pass per month"]),
    Plan(slug="unlimited", name="Unlimited", price_cents=14900, period="month",
         description="Every class, every day.",
         perks=["Unlimited classes", "Book 14 days ahead", "2 guest passes per month",
                "Freeze up to 2 months a year"]),
    Plan(slug="annual", name="Annual Unlimited", price_cents=149000, period="year",
         description="Unlimited for a year, two months free.",
         perks=["Everything in Unlimited", "Priority waitlist", "Free towel service"]),
)

# (weekday, opens, closes, note)
OPENING_HOURS: tuple[tuple[int, time, time, str], ...] = (
    *((d, time(6, 0), time(21, 30), "") for d in range(1, 6)),
    (6, time(7, 30), time(18, 0), ""),
    (7, time(8, 30), time(18, 0), "Front desk staffed from 9:00"),
)


def timetable_instants(today: date, days: int, tz: ZoneInfo) -> list[tuple[datetime, WeeklyClass]]:
    """Each weekly class on each of `days` local days from `today`, as aware instants."""
    found: list[tuple[datetime, WeeklyClass]] = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        for entry in TIMETABLE:
            if entry.weekday == day.isoweekday():
                start = datetime.combine(day, time.fromisoformat(entry.start), tzinfo=tz)
                found.append((start, entry))
    return found


async def seed_demo(db: Database, *, days: int = 14, today: date | None = None,
                    tz: ZoneInfo | None = None) -> SeedReport:
    """Add the demo timetable for `days` days from today, the plans and the hours."""
    zone = tz or studio_zone()
    start_day = today or datetime.now(zone).date()
    report = SeedReport()
    async with db.as_system() as conn:
        for starts_at, c in timetable_instants(start_day, days, zone):
            cur = await conn.execute(
                "INSERT INTO app.studio_classes (class_type, title, instructor, starts_at,"
                " duration_minutes, capacity, room) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (room, starts_at) DO NOTHING RETURNING id",
                (c.class_type, c.title, c.instructor, starts_at, c.minutes, c.capacity, c.room))
            report.classes += len(await cur.fetchall())
        for order, plan in enumerate(PLANS):
            cur = await conn.execute(
                "INSERT INTO app.studio_plans (slug, name, price_cents, currency, period,"
                " description, perks, sort_order) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (slug) DO NOTHING RETURNING id",
                (plan.slug, plan.name, plan.price_cents, plan.currency, plan.period,
                 plan.description, plan.perks, order))
            report.plans += len(await cur.fetchall())
        for weekday, opens, closes, note in OPENING_HOURS:
            cur = await conn.execute(
                "INSERT INTO app.studio_opening_hours (weekday, opens, closes, note)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (weekday) DO NOTHING RETURNING weekday",
                (weekday, opens, closes, note))
            report.opening_hours += len(await cur.fetchall())
    return report


async def seed_demo_if_empty(db: Database, *, days: int = 14,
                             tz: ZoneInfo | None = None) -> SeedReport | None:
    """Seed when no class lies ahead (a fresh database, or a demo left for weeks).

    Returns what was added, or None when there were upcoming classes already.
    """
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM app.studio_classes WHERE starts_at > now()) AS any")
        row = await cur.fetchone()
    if row is not None and row["any"]:
        return None
    return await seed_demo(db, days=days, tz=tz)
