"""Inputs and outputs of the studio's domain functions."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

# The demo studio's own zone; a real deployment passes its business's zone.
DEFAULT_TIMEZONE = "America/New_York"
# Cancelling closer than this to the start is a late cancellation (see the policy file).
LATE_CANCEL_HOURS = 12

# "The 6am spin" may mean the 6:30 ride: a class time asked for matches this closely.
AT_TOLERANCE_MINUTES = 30

CLASS_TYPES = ("yoga", "spin", "hiit", "pilates", "boxing", "barre", "strength", "stretch")


def studio_zone(name: str = DEFAULT_TIMEZONE) -> ZoneInfo:
    return ZoneInfo(name)


class ScheduleQuery(BaseModel):
    """Filters for the class schedule; times are the studio's local clock."""

    day: date | None = Field(None, description="Local day; unset = the coming days")
    start_time: time | None = Field(None, description="Earliest local start time")
    end_time: time | None = Field(None, description="Latest local start time")
    at: list[time] = Field(default_factory=list,
                           description="Local start times (a class within 30 minutes matches)")
    class_type: str | None = Field(None, description="One of: " + ", ".join(CLASS_TYPES))
    days_ahead: int = Field(7, ge=1, le=14, description="Days to look ahead without a day")
    limit: int = Field(10, ge=1, le=50)
    include_full: bool = True


class BookClassInput(BaseModel):
    """What a booking tool takes; the person and the idempotency key come from the context."""

    class_id: int = Field(description="The id of a class from the schedule")


class CancelBookingInput(BaseModel):
    """What a cancelling tool takes; only the acting person's own bookings can be found."""

    booking_id: int = Field(description="The id of one of the person's bookings")


class ClassSlot(BaseModel):
    """One scheduled class and how many seats are left in it."""

    id: int
    class_type: str
    title: str
    instructor: str
    starts_at: datetime
    duration_minutes: int
    room: str
    capacity: int
    seats_left: int

    @property
    def full(self) -> bool:
        return self.seats_left <= 0


class Plan(BaseModel):
    """A membership plan or pass."""

    slug: str
    name: str
    price_cents: int
    currency: str = "USD"
    period: Literal["visit", "week", "month", "year"]
    description: str = ""
    perks: list[str] = Field(default_factory=list)

    def price_label(self) -> str:
        symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(self.currency, self.currency + " ")
        whole, cents = divmod(self.price_cents, 100)
        amount = f"{whole:,}" if cents == 0 else f"{whole:,}.{cents:02d}"
        return f"{symbol}{amount} / {self.period}"


class OpeningHours(BaseModel):
    """Regular hours of one weekday (ISO: 1 = Monday)."""

    weekday: int = Field(ge=1, le=7)
    opens: time
    closes: time
    note: str = ""


class Booking(BaseModel):
    """One of the acting person's bookings, with its class."""

    id: int
    status: Literal["booked", "cancelled"]
    created_at: datetime
    cancelled_at: datetime | None = None
    slot: ClassSlot


class BookOutcome(StrEnum):
    BOOKED = "booked"
    ALREADY_BOOKED = "already_booked"
    FULL = "full"
    STARTED = "started"
    NOT_FOUND = "not_found"


class BookingResult(BaseModel):
    """What booking a class did; `booking` is set when a seat is (or was already) held."""

    outcome: BookOutcome
    booking: Booking | None = None
    slot: ClassSlot | None = None


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"
    STARTED = "started"
    NOT_FOUND = "not_found"


class CancelResult(BaseModel):
    """What cancelling did; `late` when inside the late-cancellation window."""

    outcome: CancelOutcome
    booking: Booking | None = None
    late: bool = False


class SeedReport(BaseModel):
    """Rows `bot seed-demo` added (existing rows are left as they are)."""

    classes: int = 0
    plans: int = 0
    opening_hours: int = 0
