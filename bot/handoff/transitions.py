"""The handoff's state changes, each in one place.

    open (waiting) → claimed → resolved | returned (to the bot)

Each function writes the handoff row, the session's status, the audit record, the hook
event and the conversation's notice (NOTIFY, for an open web chat) together, whoever
sets the change off: the customer, a policy, the agent, staff in a console, the
dashboard or the CLI. They run in the caller's transaction (the turn's, a tool's, a
staff action's), so the row and its record commit together, and the hook event and
metrics go out once it has committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from bot.db import conversations, handoffs
from bot.db.audit import audit
from bot.db.messages import queue_outbound
from bot.db.notify import NOTIFY_SQL, notice_params
from bot.db.pool import Conn, after_commit
from bot.hooks import EventHooks, EventType
from bot.models import ConversationNotice, OutboundReply
from bot.observability import Metrics

log = structlog.get_logger(__name__)

BACK_WITH_THE_BOT = OutboundReply(text=(
    "You're back with the automated assistant. Ask me anything, or say "
    "\"talk to a person\" if you need the team again."))


class HandoffTransitions:
    """The state changes, with the metrics and hooks of one process."""

    def __init__(self, metrics: Metrics, hooks: EventHooks | None) -> None:
        self.metrics = metrics
        self.hooks = hooks

    @staticmethod
    async def _announce(conn: Conn, conversation_id: UUID, status: str,
                        staff: str | None = None) -> None:
        """The conversation's followers (an open web chat) hear of it at commit."""
        await conn.execute(NOTIFY_SQL, notice_params(ConversationNotice(
            conversation_id=conversation_id, kind="handoff", status=status, author=staff)))

    def _emit(self, event: EventType, handoff_id: UUID, conversation_id: UUID,
              **data: Any) -> None:
        """The hook event, sent once the change is committed."""
        hooks = self.hooks
        if hooks is not None:
            after_commit(lambda: hooks.emit(event, handoff_id=str(handoff_id),
                                            conversation_id=str(conversation_id), **data))

    async def open(self, conn: Conn, *, contact_id: UUID, conversation_id: UUID,
                   session_id: UUID, trigger: str, reason: str, summary: str,
                   intent: str | None, at: datetime) -> UUID | None:
        """A waiting handoff and the session escalated; None (the session still escalated)
        when the conversation has an open handoff already."""
        new = await handoffs.insert(conn, contact_id=contact_id, conversation_id=conversation_id,
                                    session_id=session_id, trigger=trigger, reason=reason,
                                    summary=summary, intent=intent, at=at)
        await conversations.set_session_status(conn, session_id, "escalated")
        if new is None:
            return None
        await audit(conn, contact_id=contact_id, actor=f"bot:{trigger}", action="handoff:open",
                    detail={"handoff": str(new), "reason": reason})
        after_commit(self.metrics.handoffs.labels(trigger, intent or "none").inc)
        log.info("handoff_started", trigger=trigger, intent=intent)
        self._emit("handoff.created", new, conversation_id, trigger=trigger, intent=intent)
        await self._announce(conn, conversation_id, "waiting")
        return new

    async def claim(self, conn: Conn, handoff_id: UUID, conversation_id: UUID, staff: str,
                    at: datetime) -> bool:
        """A waiting handoff taken by `staff`; False when it was not waiting."""
        created = await handoffs.claim(conn, handoff_id, staff, at)
        if created is None:
            return False
        await audit(conn, contact_id=None, actor=f"staff:{staff}", action="handoff:claim",
                    detail={"handoff": str(handoff_id)})
        waited = (at - created).total_seconds()
        after_commit(lambda: self.metrics.handoff_claim_seconds.observe(waited))
        self._emit("handoff.claimed", handoff_id, conversation_id, staff=staff,
                   waited_s=round(waited))
        await self._announce(conn, conversation_id, "claimed", staff)
        return True

    async def close(self, conn: Conn, *, back_to_bot: bool, by: str, at: datetime,
                    handoff_id: UUID | None = None, conversation_id: UUID | None = None,
                    session_id: UUID | None = None) -> UUID | None:
        """Resolve an open handoff (the session closes) or give the conversation back to the
        bot (the session goes on). `by` is the staff member, or "customer" when the customer
        asked for the bot back (in the turn of `session_id`, the session to go on with).
        The handoff's id, or None when none was open."""
        status = "returned" if back_to_bot else "resolved"
        row = await handoffs.close(conn, status=status, staff=by, at=at, handoff_id=handoff_id,
                                   conversation_id=conversation_id)
        if row is None:
            return None
        if back_to_bot:
            await conversations.set_session_status(conn, session_id or row["session_id"],
                                                   "active", only_from="escalated")
        else:
            await conversations.close_session(conn, row["session_id"], "resolved", at)
        actor = "customer" if by == "customer" else f"staff:{by}"
        await audit(conn, contact_id=row["contact_id"] if by == "customer" else None,
                    actor=actor, action=f"handoff:{status}", detail={"handoff": str(row["id"])})
        took = (row["resolved_at"] - row["created_at"]).total_seconds()
        after_commit(lambda: self.metrics.handoff_resolve_seconds.observe(took))
        self._emit("handoff.resolved", row["id"], row["conversation_id"], staff=by,
                   outcome=status, took_s=round(took))
        await self._announce(conn, row["conversation_id"], status)
        return UUID(str(row["id"]))

    @staticmethod
    async def tell_back_with_the_bot(conn: Conn, *, contact_id: UUID, conversation_id: UUID,
                                     session_id: UUID | None) -> None:
        """Staff gave the conversation back: the customer hears so on their channel."""
        await queue_outbound(conn, contact_id=contact_id, conversation_id=conversation_id,
                             session_id=session_id, reply=BACK_WITH_THE_BOT)
