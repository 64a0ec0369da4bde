"""The dashboard's time range: 1 h, 24 h, 7 d or custom, and the bucket its charts use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import HTTPException, Query

Preset = Literal["1h", "24h", "7d", "custom"]
_PRESETS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
MAX_RANGE = timedelta(days=92)


@dataclass(frozen=True)
class TimeRange:
    """[start, end) and the width of one chart bucket."""

    start: datetime
    end: datetime
    step: timedelta

    @property
    def bucket(self) -> str:
        if self.step >= timedelta(days=1):
            return "day"
        if self.step >= timedelta(hours=1):
            return "hour"
        return f"{int(self.step.total_seconds() // 60)} min"

    @property
    def origin(self) -> datetime:
        """The start rounded down to a whole bucket, so labels fall on round times."""
        seconds = int(self.step.total_seconds())
        epoch = int(self.start.timestamp())
        return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def step_for(span: timedelta) -> timedelta:
    if span <= timedelta(hours=2):
        return timedelta(minutes=5)
    if span <= timedelta(days=8):
        return timedelta(hours=1)
    return timedelta(days=1)


def time_range(
    range: Annotated[Preset, Query(description="1h, 24h, 7d, or custom")] = "24h",
    start: Annotated[datetime | None, Query(description="custom start (ISO 8601)")] = None,
    end: Annotated[datetime | None, Query(description="custom end (ISO 8601)")] = None,
) -> TimeRange:
    """FastAPI dependency parsing the range query parameters."""
    now = datetime.now(UTC)
    if range != "custom":
        return TimeRange(now - _PRESETS[range], now, step_for(_PRESETS[range]))
    if start is None or end is None:
        raise HTTPException(status_code=422, detail="a custom range needs start and end")
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    if not start < end or end - start > MAX_RANGE:
        raise HTTPException(status_code=422, detail="start must be before end, at most 92 days")
    return TimeRange(start, end, step_for(end - start))
