"""Handing a conversation to a person: starting it, relaying, and what staff do.

User-side steps run inside the turn's unit of work (acting as the user); staff-side steps
are operator actions through the login role. Every state change goes through
`HandoffTransitions` (row, session, audit record and hook event together); this service
adds what staff see in the console and the drains that deliver what they wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog

from bot.db import conversations, handoffs, messages
from bot.db.audit import audit
from bot.db.pool import Conn, Database, Row
from bot.handoff.console import HandoffConsole, HandoffView, LogConsole, StaffResult
from bot.handoff.stats import HandoffStats, handoff_stats
from bot.handoff.summary import extractive_summary, transcript
from bot.handoff.transitions import HandoffTransitions
from bot.handoff.waiting import WaitingTimes, sweep
from bot.hooks import EventHooks
from bot.inbound.queue import DrainQueue
from bot.models import OutboundReply, PendingDelivery
from bot.observability import Metrics
from bot.settings import Settings

log = structlog.get_logger(__name__)


def _view(row: Row, recent: list[Row] | None = None) -> HandoffView:
    return HandoffView(
        id=row["id"], conversation_id=row["conversation_id"], contact_id=row["contact_id"],
        display_name=row.get("display_name") or "Customer", channel=row.get("channel") or "",
        status=row["status"], trigger=row["trigger"], reason=row["reason"],
        summary=row["summary"], created_at=row["created_at"], staff=row["staff"],
        recent=transcript(recent or []), console=handoffs.console_refs(row),
        session_id=row["session_id"])


class HandoffService:
    """Starting handoffs, relaying messages, and the staff actions."""

    def __init__(self, *, db: Database, settings: Settings, metrics: Metrics,
                 queue: DrainQueue, hooks: EventHooks | None = None,
                 console: HandoffConsole | None = None) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.queue = queue
        self.hooks = hooks
        self.console: HandoffConsole = console or LogConsole()
        self.transitions = HandoffTransitions(metrics, hooks)
        self.waiting = WaitingTimes(db, settings)

    def use_console(self, console: HandoffConsole) -> None:
        """Where staff work (a channel that hosts the console, e.g. Slack's)."""
        self.console = console

    # --- user side
    async def start(self, conn: Conn, *, contact_id: UUID, conversation_id: UUID,
                    session_id: UUID, trigger: str, reason: str, intent: str | None,
                    history: list[dict[str, Any]], now: datetime | None = None) -> OutboundReply:
        """Open a handoff (or keep the open one) and say plainly what happens next."""
        now = now or datetime.now(UTC)
        await self.transitions.open(
            conn, contact_id=contact_id, conversation_id=conversation_id,
            session_id=session_id, trigger=trigger, reason=reason,
            summary=extractive_summary(history), intent=intent, at=now)
        return OutboundReply(text=await self.waiting.text(now))

    async def waiting_text(self, now: datetime) -> str:
        return await self.waiting.text(now)

    async def back_to_bot_by_customer(self, contact_id: UUID, conversation_id: UUID,
                                      session_id: UUID) -> bool:
        """The customer asked for the bot back; False when no person had the conversation."""
        async with self.db.as_user(contact_id) as conn:
            returned = await self.transitions.close(
                conn, back_to_bot=True, by="customer", at=datetime.now(UTC),
                conversation_id=conversation_id, session_id=session_id)
            if returned is None:  # no open handoff (any more): the session is the bot's again
                await conversations.set_session_status(conn, session_id, "active",
                                                       only_from="escalated")
        if returned is None:
            return False
        await self.console.notice(await self.view(returned),
                                  "The customer went back to the bot.")
        return True

    async def open_handoff(self, conversation_id: UUID) -> HandoffView | None:
        async with self.db.as_system() as conn:
            row = await handoffs.open_of_conversation(conn, conversation_id)
        return None if row is None else _view(row)

    async def announce_if_due(self, handoff_id: UUID, now: datetime | None = None) -> bool:
        """Post a waiting handoff to the console once, when staffed hours allow."""
        now = now or datetime.now(UTC)
        if not self.waiting.hours.is_open(now):
            return False
        async with self.db.as_system() as conn:
            if not await handoffs.mark_announced(conn, handoff_id, now):
                return False
            view = await self._load(conn, handoff_id)
        try:
            refs = await self.console.announce(view)
        except Exception as exc:  # the console is down: the next sweep announces it again
            log.warning("handoff_announce_failed", error=type(exc).__name__)
            async with self.db.as_system() as conn:
                await handoffs.mark_announced(conn, handoff_id, None)
            return False
        if refs:
            async with self.db.as_system() as conn:
                await handoffs.add_console_refs(conn, handoff_id, refs)
        return True

    async def relay(self, handoff: HandoffView, text: str) -> None:
        """A user message during a handoff: mirrored to the console, never answered."""
        try:
            await self.console.mirror(handoff, handoff.display_name, text)
        except Exception as exc:  # the message is stored; the console is best effort
            log.warning("handoff_mirror_failed", error=type(exc).__name__)

    async def delivery_failed(self, delivery: PendingDelivery, error: str) -> None:
        """A staff reply the customer's platform refused: its author hears of it."""
        if delivery.author is None:
            return
        handoff = await self.open_handoff(delivery.conversation_id)
        if handoff is not None:
            excerpt = " ".join(delivery.reply.text.split())
            excerpt = excerpt if len(excerpt) <= 80 else excerpt[:79] + "…"
            await self.console.notice(
                handoff, f"Your reply \"{excerpt}\" could not be delivered to the customer: "
                         f"{error}")

    # --- reading
    async def _load(self, conn: Conn, handoff_id: UUID) -> HandoffView:
        row, recent = await handoffs.row_with_recent(conn, handoff_id)
        return _view(row, recent)

    async def view(self, handoff_id: UUID) -> HandoffView:
        async with self.db.as_system() as conn:
            return await self._load(conn, handoff_id)

    async def find_by_console(self, key: str, value: str) -> HandoffView | None:
        """The handoff a console reference (e.g. a Slack message ts) belongs to."""
        async with self.db.as_system() as conn:
            found = await handoffs.find_by_console(conn, key, value)
            return None if found is None else await self._load(conn, found)

    async def list_open(self) -> list[HandoffView]:
        async with self.db.as_system() as conn:
            return [_view(r) for r in await handoffs.open_ones(conn)]

    async def stats(self, since: datetime) -> HandoffStats:
        """Numbers for the admin view: handoffs by trigger and intent, median times."""
        async with self.db.as_system() as conn:
            return await handoff_stats(conn, since)

    # --- staff side
    async def claim(self, handoff_id: UUID, staff: str,
                    now: datetime | None = None) -> StaffResult:
        now = now or datetime.now(UTC)
        async with self.db.as_system() as conn:
            view = await self._load(conn, handoff_id)
            claimed = await self.transitions.claim(conn, handoff_id, view.conversation_id,
                                                   staff, now)
            view = await self._load(conn, handoff_id)
        if not claimed:
            return StaffResult(False, f"Already {view.status}"
                               + (f" by {view.staff}" if view.staff else ""), view)
        await self.console.notice(view, f"Claimed by {staff}.")
        return StaffResult(True, f"Claimed by {staff}.", view)

    async def reply(self, handoff_id: UUID, staff: str, text: str, *,
                    source: str | None = None, now: datetime | None = None) -> StaffResult:
        """A staff message: an internal note (prefix), or relayed to the user's channel.

        `source` identifies the console message (e.g. Slack channel and ts); a console
        retrying the same message stores it once. Replying claims a waiting handoff.
        """
        text = text.strip()
        now = now or datetime.now(UTC)
        if not text:
            return StaffResult(False, "Nothing to send.")
        if text.startswith(self.settings.handoff_note_prefix):
            return StaffResult(True, "Internal note, not sent to the customer.")
        async with self.db.as_system() as conn:
            await handoffs.lock(conn, handoff_id)
            view = await self._load(conn, handoff_id)
            if view.status not in handoffs.OPEN:
                closed = "back with the bot" if view.status == "returned" else view.status
                return StaffResult(False, f"This handoff is {closed}; the reply was not sent "
                                          "to the customer.", view)
            if source is not None and await messages.sent_from_console(
                    conn, view.conversation_id, source):
                return StaffResult(True, "Already sent to the customer.", view)
            claimed = view.status == "waiting" and await self.transitions.claim(
                conn, handoff_id, view.conversation_id, staff, now)
            await messages.queue_outbound(
                conn, contact_id=view.contact_id, conversation_id=view.conversation_id,
                session_id=view.session_id, reply=OutboundReply(text=text, from_human=True),
                author=staff, raw={"console_source": source} if source else None)
            await audit(conn, contact_id=None, actor=f"staff:{staff}", action="handoff:reply",
                        detail={"handoff": str(handoff_id)})
            if claimed:
                view = await self._load(conn, handoff_id)
        await self.queue.defer_drain(view.conversation_id, view.contact_id)
        if claimed:
            await self.console.notice(view, f"Claimed by {staff}.")
        return StaffResult(True, "Sent to the customer.", view)

    async def finish(self, handoff_id: UUID, staff: str, *, back_to_bot: bool,
                     now: datetime | None = None) -> StaffResult:
        """Resolve (closes the session) or give the conversation back to the bot."""
        now = now or datetime.now(UTC)
        async with self.db.as_system() as conn:
            closed = await self.transitions.close(conn, back_to_bot=back_to_bot, by=staff,
                                                  at=now, handoff_id=handoff_id)
            view = await self._load(conn, handoff_id)
            if closed is None:
                return StaffResult(False, f"Already {view.status}.", view)
            if back_to_bot:
                await self.transitions.tell_back_with_the_bot(
                    conn, contact_id=view.contact_id, conversation_id=view.conversation_id,
                    session_id=view.session_id)
        if back_to_bot:
            await self.queue.defer_drain(view.conversation_id, view.contact_id)
        text = ("Back to the bot" if back_to_bot else "Resolved") + f" by {staff}."
        await self.console.notice(view, text)
        return StaffResult(True, text, view)

    async def sweep(self, now: datetime | None = None) -> None:
        """Announce queued handoffs when hours begin, remind staff, tell long-waiting users."""
        await sweep(self, now or datetime.now(UTC))
