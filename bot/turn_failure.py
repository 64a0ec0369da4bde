"""What a failed turn leaves behind: a counted attempt, its bookkeeping rows, and either
a later retry or, after the last attempt, a reply that says so."""

from __future__ import annotations

import structlog

from bot.db import messages
from bot.db.messages import StoredInbound
from bot.db.pool import Database
from bot.hooks import EventHooks
from bot.models import OutboundReply
from bot.observability import Metrics
from bot.responders import DeferredWrite
from bot.settings import Settings

log = structlog.get_logger(__name__)

FAILED_TURN_TEXT = (
    "Sorry, something went wrong on my side and I couldn't answer that. "
    "Please try again in a moment."
)


async def settle_failed_turn(db: Database, settings: Settings, metrics: Metrics,
                             hooks: EventHooks | None, batch: list[StoredInbound],
                             exc: Exception, deferred: list[DeferredWrite]) -> float | None:
    """Seconds until the turn is tried again, or None when it was answered as failed."""
    last = batch[-1]
    async with db.as_user(last.contact_id) as conn:
        attempts = await messages.record_attempt(conn, [m.id for m in batch],
                                                 type(exc).__name__)
    await store_deferred(db, last, deferred)
    if attempts < settings.turn_max_attempts:
        metrics.turn_retries.inc()
        # A failure may ask for a later retry (e.g. an LLM's Retry-After).
        asked = float(getattr(exc, "retry_after_s", None) or 0)
        return float(min(60, max(2 ** attempts, asked)))
    if hooks is not None:
        hooks.emit("turn.failed", conversation_id=str(last.conversation_id),
                   channel=last.channel, message_id=last.id,
                   attempts=attempts, error=type(exc).__name__)
    # A failure may carry a user-safe text ("the AI service is busy"); never str(exc).
    text = getattr(exc, "user_text", None) or FAILED_TURN_TEXT
    async with db.as_user(last.contact_id) as conn:
        await messages.save_reply(conn, inbound=batch, session_id=None,
                                  reply=OutboundReply(text=text), inbound_status="failed")
    return None


async def store_deferred(db: Database, last: StoredInbound,
                         deferred: list[DeferredWrite]) -> None:
    """The rows a failed turn's responder left for its reply (what its model calls cost)."""
    if not deferred:
        return
    try:
        async with db.as_user(last.contact_id, pipeline=True) as conn:
            for write in deferred:
                await write(conn)
    except Exception as exc:  # the retry matters more than the cost rows; metrics have them
        log.error("deferred_rows_failed", count=len(deferred), error=type(exc).__name__)
