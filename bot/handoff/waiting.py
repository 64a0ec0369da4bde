"""While a handoff waits: what the customer is told, staffed hours, and the sweep that
announces queued handoffs when hours begin, reminds staff and tells long-waiting
customers."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from bot.db import handoffs, messages
from bot.db.pool import Database
from bot.handoff.console import HandoffConsole, HandoffView
from bot.handoff.hours import WorkingHours
from bot.inbound.queue import DrainQueue
from bot.models import OutboundReply
from bot.observability import Metrics
from bot.settings import Settings

STILL_BUSY = OutboundReply(text=(
    "Sorry for the wait — everyone on the team is busy right now. Leave a message here with "
    "any details, and a person will get back to you as soon as they can."))


class WaitingTimes:
    """What a customer is told when a person is brought in."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.hours = WorkingHours.parse(settings.handoff_hours, settings.handoff_timezone,
                                        settings.handoff_holidays)

    async def text(self, now: datetime) -> str:
        if self.hours.is_open(now):
            minutes = await self.expected_minutes()
            return ("I'm bringing in a person from our team to help you. They'll reply right "
                    f"here, usually within about {minutes} minutes.")
        back = self.hours.next_open(now)
        when = back.strftime("%A at %H:%M") if back else "as soon as possible"
        return ("Our team isn't available right now; they're back "
                f"{when}. I've passed your conversation on, and a person will reply here then.")

    async def expected_minutes(self) -> int:
        """The median of the last claims, or HANDOFF_EXPECTED_WAIT_MIN before there are 3."""
        async with self.db.as_system() as conn:
            waits = await handoffs.recent_claim_waits(conn)
        if len(waits) < 3:
            return self.settings.handoff_expected_wait_min
        return max(1, round(statistics.median(waits) / 60))


class SweptHandoffs(Protocol):
    """What the sweep needs of the handoff service."""

    db: Database
    settings: Settings
    metrics: Metrics
    queue: DrainQueue
    console: HandoffConsole

    async def announce_if_due(self, handoff_id: UUID, now: datetime | None = None) -> bool: ...

    async def view(self, handoff_id: UUID) -> HandoffView: ...


async def sweep(service: SweptHandoffs, now: datetime) -> None:
    """One pass over the waiting handoffs."""
    s = service.settings
    remind = timedelta(minutes=s.handoff_remind_after_min)
    tell_user = timedelta(minutes=s.handoff_notify_user_after_min)
    async with service.db.as_system() as conn:
        waiting = await handoffs.waiting(conn)
    service.metrics.handoffs_waiting.set(len(waiting))
    for row in waiting:
        if row["announced_at"] is None:
            await service.announce_if_due(row["id"], now)
            continue
        since = now - row["announced_at"]
        if row["reminded_at"] is None and since >= remind:
            view = await service.view(row["id"])
            await service.console.notice(view, f"{s.handoff_mention} Still waiting for a person: "
                                         f"{int(since.total_seconds() // 60)} min.".strip())
            async with service.db.as_system() as conn:
                await handoffs.mark(conn, row["id"], "reminded_at", now)
        if row["user_notified_at"] is None and since >= tell_user:
            async with service.db.as_system() as conn:
                await handoffs.mark(conn, row["id"], "user_notified_at", now)
                await messages.queue_outbound(
                    conn, contact_id=row["contact_id"], conversation_id=row["conversation_id"],
                    session_id=row["session_id"], reply=STILL_BUSY)
            await service.queue.defer_drain(row["conversation_id"], row["contact_id"])
            await service.console.notice(await service.view(row["id"]), (
                "The customer was told everyone is busy and invited to leave a message."))
