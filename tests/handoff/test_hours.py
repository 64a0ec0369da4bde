"""Working hours with controlled time: boundaries, time zones, holidays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.handoff.hours import WorkingHours

HOURS = WorkingHours.parse("mon-fri 08:00-18:00; sat 09:00-13:00", "Europe/London",
                           "2026-12-25")


@pytest.mark.parametrize(("at", "open_"), [
    (datetime(2026, 6, 1, 7, 0, tzinfo=UTC), True),     # Mon 08:00 London (BST)
    (datetime(2026, 6, 1, 6, 59, tzinfo=UTC), False),   # Mon 07:59 London
    (datetime(2026, 6, 1, 16, 59, tzinfo=UTC), True),   # Mon 17:59
    (datetime(2026, 6, 1, 17, 0, tzinfo=UTC), False),   # Mon 18:00: closed
    (datetime(2026, 6, 6, 11, 0, tzinfo=UTC), True),    # Sat 12:00
    (datetime(2026, 6, 7, 11, 0, tzinfo=UTC), False),   # Sun
    (datetime(2026, 12, 25, 10, 0, tzinfo=UTC), False),  # holiday (a Friday)
])
def test_is_open(at: datetime, open_: bool) -> None:
    assert HOURS.is_open(at) is open_


def test_next_open_skips_night_weekend_and_holiday() -> None:
    friday_evening = datetime(2026, 6, 5, 19, 0, tzinfo=UTC)
    assert HOURS.next_open(friday_evening) == datetime(2026, 6, 6, 8, 0, tzinfo=UTC)
    christmas_eve_night = datetime(2026, 12, 24, 20, 0, tzinfo=UTC)
    assert HOURS.next_open(christmas_eve_night) == datetime(2026, 12, 26, 9, 0, tzinfo=UTC)


def test_default_every_day_and_bad_input() -> None:
    daily = WorkingHours.parse("mon-sun 07:00-20:00", "UTC")
    assert daily.is_open(datetime(2026, 6, 7, 7, 0, tzinfo=UTC))
    assert not daily.is_open(datetime(2026, 6, 7, 20, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="working hours"):
        WorkingHours.parse("weekdays 9-5", "UTC")
