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

from adapters.base import ChannelAdapter, ChannelTraits, TurnObserver
from bot import channel_rules, guard
from bot.agent.tracing import NoTracer, Tracer
from bot.batching import next_batch
from bot.classify import (
    Classification,
    Classifier,
    TurnScope,
)
from bot.db import messages
from bot.db.messages import StoredInbound
from bot.db.pool import Database
from bot.delivery import ClaimedReplies, Deliverer, RetryDelivery
from bot.events import EventHub
from bot.handoff.policy import (
    INJECTION_REFUSED,
)
from bot.handoff.service import HandoffService
from bot.hooks import EventHooks
from bot.intents.builtin import BACK_TO_BOT, OPT_IN, OPT_OUT
from bot.models import EventName, OutboundReply, StreamEvent
from bot.observability import Metrics
from bot.responders import DeferredWrite, TurnContext
from bot.routes import Router
from bot.safety.injection import InjectionDetector
from bot.safety.output import OutputFilter
from bot.safety.ratelimit import RATE_LIMITED_TEXT, RateLimits
from bot.screening import screen_and_classify
from bot.settings import Settings
from bot.turn_failure import settle_failed_turn
from bot.turn_state import TurnPrefetch, open_turn
from bot.turn_store import TurnStore

log = structlog.get_logger(__name__)

# Intents the bot still handles while a person has the conversation.
_DURING_HANDOFF = {OPT_OUT, OPT_IN, BACK_TO_BOT}

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
        metrics: Metrics, rate_limits: RateLimits, output_filter: OutputFilter,
        handoffs: HandoffService | None = None, hooks: EventHooks | None = None,
        injection: InjectionDetector | None = None, tracer: Tracer | None = None,
        prefetch: TurnPrefetch | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        # LangSmith when configured: one trace per turn, classification and the agent inside
        self.tracer: Tracer = tracer or NoTracer()
        self.classifier = classifier
        self.router = router
        self.deliverer = deliverer
        self.events = events
        self.adapters = adapters
        self.metrics = metrics
        self.rate_limits = rate_limits
        self.output_filter = output_filter
        self.hooks = hooks
        self.injection = injection
        # the agent's reads, sent with each turn's opening round trip
        self.prefetch = prefetch
        self.store = TurnStore(settings=settings, db=db, deliverer=deliverer, metrics=metrics,
                               handoffs=handoffs, hooks=hooks)
        # Set when the process is shutting down: a drain stops between turns.
        self.stop_requested = False

    async def drain(self, conversation_id: UUID, contact_id: UUID) -> DrainOutcome:
        turns = 0
        try:
            # Replies left undelivered by an earlier run, and the oldest unanswered
            # message: one round trip for both.
            async with self.db.in_one_trip(contact_id) as unit:
                out = unit.add(messages.UNDELIVERED_SQL, (conversation_id,))
                waiting = unit.add(messages.UNANSWERED_SQL, (conversation_id, 1))
            pending = messages.undelivered_from(out.rows)
            first: list[StoredInbound] | None = messages.unanswered_from(waiting.rows)
            if pending:
                await self.deliverer.flush(conversation_id, contact_id, pending=pending)
            while True:
                if self.stop_requested:
                    # what is left goes back to the queue, for this or another worker
                    return DrainOutcome(turns, retry_in_s=0.0)
                batch = await self.next_batch(conversation_id, contact_id, first=first)
                first = None
                if not batch:
                    return DrainOutcome(turns)
                retry, ready = await self._turn_or_failure(batch)
                if retry is not None:
                    return DrainOutcome(turns, retry_in_s=retry)
                turns += 1
                t0 = time.perf_counter()
                _, first = await self.deliverer.flush_then_read_next(conversation_id, contact_id,
                                                                     ready=ready)
                self.metrics.stage_done("deliver", t0, conversation_id=str(conversation_id))
        except RetryDelivery as exc:
            return DrainOutcome(turns, retry_in_s=exc.retry_after_s or 2.0)

    def traits(self, channel: str) -> ChannelTraits:
        return getattr(self.adapters.get(channel), "traits", None) or ChannelTraits()

    async def next_batch(self, conversation_id: UUID, contact_id: UUID,
                         first: list[StoredInbound] | None = None) -> list[StoredInbound]:
        """The next turn's messages (a whole burst on channels that have a window)."""
        return await next_batch(self.db, conversation_id, contact_id, self.traits, first)

    async def _turn_or_failure(
            self, batch: list[StoredInbound]) -> tuple[float | None, ClaimedReplies | None]:
        """(retry in seconds or None, the replies claimed with the turn's commit)"""
        structlog.contextvars.bind_contextvars(
            trace_id=batch[-1].trace_id, conversation_id=str(batch[-1].conversation_id))
        started = time.perf_counter()
        deferred: list[DeferredWrite] = []
        try:
            ready = await self.run_turn(batch, deferred)
            self.metrics.turns.labels("ok").inc()
            return None, ready
        except Exception as exc:
            log.exception("turn_failed", message_ids=[m.id for m in batch])
            self.metrics.turns.labels("error").inc()
            return await settle_failed_turn(self.db, self.settings, self.metrics, self.hooks,
                                            batch, exc, deferred), None
        finally:
            self.metrics.stage_done("total", started)
            structlog.contextvars.unbind_contextvars("trace_id", "conversation_id")

    async def run_turn(self, batch: list[StoredInbound],
                       deferred: list[DeferredWrite] | None = None) -> ClaimedReplies | None:
        """Answer one turn (one message, or a burst answered together); rows its responder
        defers are stored with the reply, and are left in `deferred` if the turn fails.
        Returns the replies claimed for delivery with the turn's commit, if it stored one."""
        last = batch[-1]
        adapter = self.adapters.get(last.channel)
        traits = self.traits(last.channel)
        typing = None
        if adapter is not None and traits.typing_after_s is not None:
            typing = asyncio.create_task(self._typing_after(adapter, traits.typing_after_s,
                                                            last.external_id))
        try:
            async with self.tracer.turn(
                "turn", inputs={"text": "\n".join(m.text for m in batch)},
                tags=[f"channel:{last.channel}"],
                metadata={"channel": last.channel, "conversation_id": str(last.conversation_id),
                          "message_id": last.id}):
                return await self._answer(batch, adapter, traits,
                                          [] if deferred is None else deferred)
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
                      traits: ChannelTraits,
                      deferred: list[DeferredWrite]) -> ClaimedReplies | None:
        last = batch[-1]
        streams = bool(adapter and adapter.streams_progress)
        t0 = time.perf_counter()
        thinking: dict[str, Any] = {"text": "thinking"}
        opened = await open_turn(
            self.db, batch, traits, history_max=self.settings.history_max_messages,
            inactivity=timedelta(hours=self.settings.session_inactivity_hours),
            prefetch=self.prefetch,
            notify=StreamEvent(message_id=last.id, event="status", data=thinking)
            if streams else None)
        if opened is None:
            log.info("turn_skipped_opted_out", message_id=last.id)
            return None
        state, opt = opened
        self.metrics.stage_done("open", t0)
        observer = adapter if isinstance(adapter, TurnObserver) else None

        streamed: list[bool] = []

        async def emit(event: EventName, data: dict[str, Any], *, sent: bool = False) -> None:
            """`sent`: the event's NOTIFY went (or goes) with a unit of work already."""
            if event == "text_delta":
                streamed.append(True)
            if streams and not sent:
                await self.events.publish(StreamEvent(message_id=last.id, event=event,
                                                      data=data))
            if observer is not None:
                try:
                    await observer.turn_event(last, event, data)
                except Exception:  # progress display never fails a turn
                    log.warning("turn_observer_failed", channel=last.channel, exc_info=True)

        await emit("status", thinking, sent=True)
        text = "\n".join(m.text for m in batch if m.text)
        verdict = guard.check_input(text, media=[x for m in batch for x in m.media],
                                    payload=last.payload,
                                    max_chars=self.settings.max_message_chars)
        payload = last.payload
        if payload is None and traits.text_menus:
            # "2" or an option's title answers the numbered menu of the last reply
            payload = channel_rules.pick_option(text, state.history)
        if opt.reply is not None:
            return await self.store.finish(batch, state, opt.reply, Classification(
                intent="opt_out" if opt.set_opted_out else "opt_in", confidence=1.0,
                method="keyword"), opt_set=opt.set_opted_out)
        limit = await self.rate_limits.check_message(str(last.contact_id), str(state.session.id))
        if not limit.allowed:
            self.metrics.rate_limited.labels(limit.scope or "unknown").inc()
            log.info("rate_limited", scope=limit.scope, message_id=last.id, notify=limit.notify)
            if not limit.notify:
                async with self.db.as_user(last.contact_id) as conn:
                    await messages.mark_skipped(conn, [m.id for m in batch], state.session.id)
                return None
            reply = OutboundReply(text=RATE_LIMITED_TEXT.format(seconds=limit.retry_after_s))
            return await self.store.finish(batch, state, reply, _guarded("rate_limited"))
        if not verdict.allowed:
            assert verdict.reply is not None
            self.metrics.guard_rejections.labels(verdict.reason or "unknown").inc()
            log.info("guard_rejected", reason=verdict.reason, message_id=last.id)
            return await self.store.finish(batch, state, verdict.reply, _guarded("rejected"))
        screened = await screen_and_classify(
            verdict.text, detector=self.injection, classifier=self.classifier,
            tracer=self.tracer, refusal_ends_turn=state.session.status != "escalated",
            previous_intent=state.previous_intent, payload=payload,
            scope=TurnScope(last.contact_id, last.conversation_id, state.session.id, last.id))
        self.metrics.stage_took("injection", screened.check_s)
        flag, classification = screened.flag, screened.classification
        if classification is None:
            assert flag is not None
            log.warning("injection_refused", score=flag.score, rules=list(flag.rules),
                        message_id=last.id)
            return await self.store.finish(
                batch, state, OutboundReply(text=guard.INJECTION_REFUSED_TEXT),
                _guarded(INJECTION_REFUSED), injection=flag, text=verdict.text)
        self.metrics.stage_took("classify", screened.total_s - screened.check_s)

        if state.session.status == "escalated" and classification.intent not in _DURING_HANDOFF:
            await self.store.relay_to_staff(batch, state, verdict.text, classification, flag)
            return None

        responder = self.router.route(classification)
        turn = TurnContext(
            contact_id=last.contact_id, conversation_id=last.conversation_id,
            channel=last.channel, message_ids=[m.id for m in batch], text=verdict.text,
            payload=payload, session=state.session, classification=classification,
            history=state.history, untrusted=flag is not None, deferred=deferred,
            prefetched=state.prefetched, shows_text_as_written=streams or observer is not None,
        )
        if flag is not None:
            log.warning("injection_hardened", score=flag.score, rules=list(flag.rules),
                        message_id=last.id)
        t0 = time.perf_counter()
        reply = await responder.respond(turn, emit)
        self.metrics.stage_done("respond", t0)
        checked = self.output_filter.check(reply.text)
        if checked.changed:
            reply = reply.model_copy(update={"text": checked.text})
            log.warning("output_filtered", findings=checked.findings, message_id=last.id)
        late: list[StreamEvent] = []
        if not checked.changed and not streamed:
            # Responders that do not stream still show their text as it is ready; the
            # event's NOTIFY goes with the reply's transaction.
            await emit("text_delta", {"text": reply.text}, sent=True)
            if streams:
                late.append(StreamEvent(message_id=last.id, event="text_delta",
                                        data={"text": reply.text}))
        unhelpful = bool(getattr(responder, "unhelpful", False))
        return await self.store.finish(batch, state, reply, classification, notify=late,
                                  findings=checked.findings, unhelpful=unhelpful,
                                  text=verdict.text, injection=flag, deferred=deferred)


def _guarded(intent: str) -> Classification:
    return Classification(intent=intent, confidence=1.0, method="guard")
