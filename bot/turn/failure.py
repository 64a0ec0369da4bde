"""What a failed turn leaves behind: a counted attempt, its unit's rows, and either a later
retry or, after the last attempt, a reply that says so."""

from __future__ import annotations

import structlog

from bot.db import messages
from bot.db.pool import Database
from bot.hooks import EventHooks
from bot.models import OutboundReply, StoredInbound
from bot.observability import Metrics
from bot.routing.responder import TurnRetryLater
from bot.settings import Settings
from bot.turn.unit import TurnUnit

log = structlog.get_logger(__name__)

FAILED_TURN_TEXT = (
    "Sorry, something went wrong on my side and I couldn't answer that. "
    "Please try again in a moment."
)


class FailedTurns:
    """Settles turns that raised."""

    def __init__(self, db: Database, settings: Settings, metrics: Metrics,
                 hooks: EventHooks | None) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.hooks = hooks

    async def settle(self, batch: list[StoredInbound], exc: Exception,
                     unit: TurnUnit) -> float | None:
        """Seconds until the turn is tried again, or None when it was answered as failed."""
        last = batch[-1]
        async with self.db.as_user(last.contact_id) as conn:
            attempts = await messages.record_attempt(conn, [m.id for m in batch],
                                                     type(exc).__name__)
        await unit.commit_rows_after_failure()
        later = exc if isinstance(exc, TurnRetryLater) else None
        if attempts < self.settings.turn_max_attempts:
            self.metrics.turn_retries.inc()
            asked = (later.retry_after_s or 0.0) if later is not None else 0.0
            return float(min(60, max(2 ** attempts, asked)))
        if self.hooks is not None:
            self.hooks.emit("turn.failed", conversation_id=str(last.conversation_id),
                            channel=last.channel, message_id=last.id,
                            attempts=attempts, error=type(exc).__name__)
        text = (later.user_text if later is not None else None) or FAILED_TURN_TEXT
        async with self.db.as_user(last.contact_id) as conn:
            await messages.save_reply(conn, inbound=batch, session_id=None,
                                      reply=OutboundReply(text=text), inbound_status="failed")
        return None
