"""One conversation's messages, answered strictly in order.

    guard → session → classify → route → respond → (store reply) → deliver

`drain` is what the queue runs for a conversation: it answers every unanswered
inbound message, oldest first, one turn at a time. A turn's reply is stored
together with marking its messages answered, so a re-run after a crash never
answers twice; delivery then sends stored replies exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import structlog

from adapters.base import ChannelAdapter, ChannelTraits
from bot import channel_rules, guard
from bot.classify import Classification, Classifier, store_classification
from bot.db import messages
from bot.db.messages import StoredInbound
from bot.db.pool import Database
from bot.delivery import Deliverer, RetryDelivery
from bot.events import EventHub
from bot.models import EventName, OutboundReply, StreamEvent, utcnow
from bot.observability import Metrics
from bot.responders import TurnContext
from bot.routes import Router
from bot.sessions import open_session
from bot.settings import Settings

log = structlog.get_logger(__name__)

FAILED_TURN_TEXT = (
    "Sorry, something went wrong on my side and I couldn't answer that. "
    "Please try again in a moment."
)


@dataclass(frozen=True)
class DrainOutcome:
    """How a drain ended: all done, or come back after `retry_in_s` seconds."""

    turns: int
    retry_in_s: float | None = None


class Pipeline:
    """The stages wired together for one process."""

    def __init__(
        self, *, settings: Settings, db: Database, classifier: Classifier, router: Router,
        deliverer: Deliverer, events: EventHub, adapters: dict[str, ChannelAdapter],
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.db = db
        self.classifier = classifier
        self.router = router
        self.deliverer = deliverer
        self.events = events
        self.adapters = adapters
        self.metrics = metrics

    async def drain(self, conversation_id: UUID, contact_id: UUID) -> DrainOutcome:
        turns = 0
        try:
            await self.deliverer.flush(conversation_id, contact_id)
            while True:
                batch = await self.next_batch(conversation_id, contact_id)
                if not batch:
                    return DrainOutcome(turns)
                retry = await self._turn_or_failure(batch)
                if retry is not None:
                    return DrainOutcome(turns, retry_in_s=retry)
                turns += 1
                await self.deliverer.flush(conversation_id, contact_id)
        except RetryDelivery as exc:
            return DrainOutcome(turns, retry_in_s=exc.retry_after_s or 2.0)

    def traits(self, channel: str) -> ChannelTraits:
        return getattr(self.adapters.get(channel), "traits", None) or ChannelTraits()

    async def next_batch(self, conversation_id: UUID, contact_id: UUID) -> list[StoredInbound]:
        """The next turn's messages: the oldest unanswered one, or a whole burst.

        On channels with a burst window, a turn whose oldest message is younger than
        the window waits until the newest has been quiet for the window (never past
        `burst_max_wait_s` after the oldest), then takes every unanswered message.
        """
        async with self.db.as_user(contact_id) as conn:
            batch = await messages.next_unanswered(conn, conversation_id)
        if not batch:
            return batch
        traits = self.traits(batch[0].channel)
        if traits.burst_window_s <= 0:
            return batch
        limit = max(1, traits.burst_max_messages)
        while True:
            async with self.db.as_user(contact_id) as conn:
                batch = await messages.next_unanswered(conn, conversation_id, limit=limit)
            if not batch:
                return batch
            now = utcnow()
            oldest, newest = batch[0].received_at, batch[-1].received_at
            if (now - oldest).total_seconds() >= traits.burst_window_s or len(batch) >= limit:
                return batch
            wait = min((newest - now).total_seconds() + traits.burst_window_s,
                       (oldest - now).total_seconds() + traits.burst_max_wait_s)
            if wait <= 0:
                return batch
            await asyncio.sleep(wait)

    async def _turn_or_failure(self, batch: list[StoredInbound]) -> float | None:
        structlog.contextvars.bind_contextvars(
            trace_id=batch[-1].trace_id, conversation_id=str(batch[-1].conversation_id))
        started = time.perf_counter()
        try:
            await self.run_turn(batch)
            self.metrics.turns.labels("ok").inc()
            return None
        except Exception as exc:
            log.exception("turn_failed", message_ids=[m.id for m in batch])
            self.metrics.turns.labels("error").inc()
            async with self.db.as_user(batch[-1].contact_id) as conn:
                attempts = await messages.record_attempt(conn, [m.id for m in batch],
                                                         type(exc).__name__)
            if attempts < self.settings.turn_max_attempts:
                return float(min(60, 2 ** attempts))
            async with self.db.as_user(batch[-1].contact_id) as conn:
                await messages.save_reply(conn, inbound=batch, session_id=None,
                                          reply=OutboundReply(text=FAILED_TURN_TEXT),
                                          inbound_status="failed")
            return None
        finally:
            self.metrics.turn_seconds.labels("total").observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("trace_id", "conversation_id")

    async def run_turn(self, batch: list[StoredInbound]) -> None:
        """Answer one turn (one message, or a burst answered together)."""
        last = batch[-1]
        adapter = self.adapters.get(last.channel)
        traits = self.traits(last.channel)
        typing = None
        if adapter is not None and traits.typing_after_s is not None:
            typing = asyncio.create_task(self._typing_after(adapter, traits.typing_after_s,
                                                            last.external_id))
        try:
            await self._answer(batch, adapter, traits)
        finally:
            if typing is not None:
                typing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await typing

    async def _typing_after(self, adapter: ChannelAdapter, delay_s: float,
                            external_id: str) -> None:
        await asyncio.sleep(delay_s)
        show = getattr(adapter, "show_typing", None)
        if show is not None:
            with contextlib.suppress(Exception):  # a nicety: never fails a turn
                await show(external_id)

    async def _answer(self, batch: list[StoredInbound], adapter: ChannelAdapter | None,
                      traits: ChannelTraits) -> None:
        last = batch[-1]
        streams = bool(adapter and adapter.streams_progress)
        opt = channel_rules.OptDecision()
        if traits.opt_out_words or traits.opt_in_words:
            command = channel_rules.opt_command([m.text for m in batch], traits)
            async with self.db.as_user(last.contact_id) as conn:
                opted_out = await channel_rules.is_opted_out(conn, last.contact_id)
                opt = channel_rules.decide(command, opted_out, traits)
                if opt.skip:
                    await channel_rules.mark_skipped(conn, [m.id for m in batch])
            if opt.skip:
                log.info("turn_skipped_opted_out", message_id=last.id)
                return

        async def emit(event: EventName, data: dict[str, Any]) -> None:
            if streams:
                await self.events.publish(StreamEvent(message_id=last.id, event=event,
                                                      data=data))

        await emit("status", {"text": "thinking"})
        text = "\n".join(m.text for m in batch if m.text)
        verdict = guard.check_input(text, media=[x for m in batch for x in m.media],
                                    payload=last.payload,
                                    max_chars=self.settings.max_message_chars)
        inactivity = timedelta(hours=self.settings.session_inactivity_hours)
        async with self.db.as_user(last.contact_id) as conn:
            session = await open_session(conn, conversation_id=last.conversation_id,
                                         contact_id=last.contact_id, at=last.received_at,
                                         inactivity=inactivity, inbound=len(batch))
            history = await messages.history(conn, last.conversation_id,
                                              self.settings.history_max_messages)
        payload = last.payload
        if payload is None and traits.text_menus:
            payload = channel_rules.pick_option(text, history)
        if opt.reply is not None:
            reply: OutboundReply = opt.reply
            classification = Classification(intent="opt_out" if opt.set_opted_out else "opt_in",
                                            confidence=1.0, method="keyword")
        elif not verdict.allowed:
            assert verdict.reply is not None
            self.metrics.guard_rejections.labels(verdict.reason or "unknown").inc()
            log.info("guard_rejected", reason=verdict.reason, message_id=last.id)
            reply = verdict.reply
            classification = Classification(intent="rejected", confidence=1.0, method="guard")
        else:
            t0 = time.perf_counter()
            classification = await self.classifier.classify(verdict.text)
            self.metrics.turn_seconds.labels("classify").observe(time.perf_counter() - t0)
            responder = self.router.route(classification)
            turn = TurnContext(
                contact_id=last.contact_id, conversation_id=last.conversation_id,
                channel=last.channel, message_ids=[m.id for m in batch], text=verdict.text,
                payload=payload, session=session, classification=classification,
                history=history,
            )
            t0 = time.perf_counter()
            reply = await responder.respond(turn, emit)
            self.metrics.turn_seconds.labels("respond").observe(time.perf_counter() - t0)
        async with self.db.as_user(last.contact_id) as conn:
            await store_classification(conn, contact_id=last.contact_id, message_id=last.id,
                                       result=classification)
            await messages.save_reply(conn, inbound=batch, session_id=session.id, reply=reply)
            if opt.set_opted_out is not None:
                await channel_rules.set_opted_out(conn, last.contact_id, opt.set_opted_out,
                                                  last.channel)
            await conn.execute(
                "UPDATE app.sessions SET outbound_count = outbound_count + 1 WHERE id = %s",
                (session.id,),
            )
        log.info("turn_answered", message_id=last.id, intent=classification.intent,
                 method=classification.method)
