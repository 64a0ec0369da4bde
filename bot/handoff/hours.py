"""Staffed hours: a weekly schedule in a time zone, with holidays (pure, testable)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_RULE = re.compile(r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+"
                   r"(?P<h1>\d{1,2}:\d{2})-(?P<h2>\d{1,2}:\d{2})$")


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(23, 59, 59) if hours == "24" else time(int(hours), int(minutes))


@dataclass(frozen=True)
class WorkingHours:
    """When people staff the console; `spans[weekday]` are (open, close) local times."""

    zone: ZoneInfo
    spans: dict[int, list[tuple[time, time]]]
    holidays: frozenset[date]

    @classmethod
    def parse(cls, schedule: str, zone: str, holidays: str = "") -> WorkingHours:
        """`mon-fri 08:00-18:00; sat 09:00-13:00`, an IANA zone, `2026-12-25,2027-01-01`."""
        spans: dict[int, list[tuple[time, time]]] = {i: [] for i in range(7)}
        for part in filter(None, (p.strip().lower() for p in schedule.split(";"))):
            match = _RULE.match(part)
            if not match or match["d1"] not in DAYS or (match["d2"] and match["d2"] not in DAYS):
                raise ValueError(f"cannot read working hours {part!r}; "
                                 "expected e.g. 'mon-fri 08:00-18:00'")
            first = DAYS.index(match["d1"])
            last = DAYS.index(match["d2"] or match["d1"])
            days = range(first, last + 1) if first <= last else [*range(first, 7),
                                                                 *range(0, last + 1)]
            for day in days:
                spans[day].append((_clock(match["h1"]), _clock(match["h2"])))
        days_off = frozenset(date.fromisoformat(d.strip()) for d in holidays.split(",")
                             if d.strip())
        return cls(ZoneInfo(zone), spans, days_off)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.spans[local.weekday()])

    def next_open(self, at: datetime) -> datetime | None:
        """The next moment the console is staffed (`at` itself when open now)."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.zone)
        for offset in range(0, 15):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, _ in sorted(self.spans[day.weekday()]):
                candidate = datetime.combine(day, start, tzinfo=self.zone)
                if candidate > local:
                    return candidate
        return None
