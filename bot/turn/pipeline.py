"""One conversation's messages, answered strictly in order, one turn at a time.

    open → stages (stages/__init__.py, in order) → store the outcome → deliver

`drain` is what the queue runs for a conversation: it answers every unanswered inbound
message, oldest first. A turn's reply is stored together with marking its messages
answered, so a re-run after a crash never answers twice; delivery then sends stored
replies exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from uuid import UUID

import structlog

from bot.channels import Channels
from bot.db import messages
from bot.db.pool import Database
from bot.inbound.queue import DrainOutcome
from bot.models import StoredInbound
from bot.observability import Metrics
from bot.outbound.delivery import ClaimedReplies, Deliverer, RetryDelivery
from bot.tracing import NoTracer, Tracer
from bot.turn.batching import next_batch
from bot.turn.failure import FailedTurns
from bot.turn.opening import TurnOpening
from bot.turn.outcome import Outcomes
from bot.turn.stage import Outcome, Stage, Turn
from bot.turn.unit import TurnUnit

log = structlog.get_logger(__name__)


class Pipeline:
    """The turn of one process: its opening, its stages, where outcomes go."""

    def __init__(self, *, db: Database, channels: Channels, opening: TurnOpening,
                 stages: Sequence[Stage], outcomes: Outcomes, failures: FailedTurns,
                 deliverer: Deliverer, metrics: Metrics, tracer: Tracer | None = None) -> None:
        self.db = db
        self.channels = channels
        self.opening = opening
        self.stages = list(stages)
        self.outcomes = outcomes
        self.failures = failures
        self.deliverer = deliverer
        self.metrics = metrics
        # LangSmith when configured: one trace per turn, classification and the agent inside
        self.tracer: Tracer = tracer or NoTracer()
        # Set when the process is shutting down: a drain stops between turns.
        self.stop_requested = False

    async def run_turn(self, batch: list[StoredInbound],
                       unit: TurnUnit | None = None) -> ClaimedReplies | None:
        """Answer one turn (one message, or a burst answered together). Returns the replies
        claimed for delivery with the turn's commit, if it stored one."""
        last = batch[-1]
        unit = unit or TurnUnit(self.db, last.contact_id)
        async with self._typing(last), self.tracer.turn(
                "turn", inputs={"text": "\n".join(m.text for m in batch)},
                tags=[f"channel:{last.channel}"],
                metadata={"channel": last.channel, "conversation_id": str(last.conversation_id),
                          "message_id": last.id}):
            started = time.perf_counter()
            turn = await self.opening.open(batch, unit)
            if turn is None:
                log.info("turn_skipped_opted_out", message_id=last.id)
                return None
            self.metrics.stage_done("open", started)
            outcome = await self._through_stages(turn)
            return await self.outcomes.store(turn, outcome)

    async def _through_stages(self, turn: Turn) -> Outcome:
        for stage in self.stages:
            outcome = await stage.run(turn)
            if outcome is not None:
                return outcome
        return turn.answer()

    async def drain(self, conversation_id: UUID, contact_id: UUID) -> DrainOutcome:
        turns = 0
        try:
            # Replies left undelivered by an earlier run, and the oldest unanswered
            # message: one round trip for both.
            async with self.db.in_one_trip(contact_id) as trip:
                out = trip.add(messages.UNDELIVERED_SQL, (conversation_id,))
                waiting = trip.add(messages.UNANSWERED_SQL, (conversation_id, 1))
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

    async def next_batch(self, conversation_id: UUID, contact_id: UUID,
                         first: list[StoredInbound] | None = None) -> list[StoredInbound]:
        """The next turn's messages (a whole burst on channels that have a window)."""
        return await next_batch(self.db, conversation_id, contact_id, self.channels.traits,
                                first)

    async def _turn_or_failure(
            self, batch: list[StoredInbound]) -> tuple[float | None, ClaimedReplies | None]:
        """(retry in seconds or None, the replies claimed with the turn's commit)"""
        structlog.contextvars.bind_contextvars(
            trace_id=batch[-1].trace_id, conversation_id=str(batch[-1].conversation_id))
        started = time.perf_counter()
        unit = TurnUnit(self.db, batch[-1].contact_id)
        try:
            ready = await self.run_turn(batch, unit)
            self.metrics.turns.labels("ok").inc()
            return None, ready
        except Exception as exc:
            log.exception("turn_failed", message_ids=[m.id for m in batch])
            self.metrics.turns.labels("error").inc()
            return await self.failures.settle(batch, exc, unit), None
        finally:
            self.metrics.stage_done("total", started)
            structlog.contextvars.unbind_contextvars("trace_id", "conversation_id")

    @contextlib.asynccontextmanager
    async def _typing(self, message: StoredInbound) -> AsyncIterator[None]:
        """"typing…" once the turn has run as long as the channel's traits say."""
        indicator = self.channels.typing(message.channel)
        delay = self.channels.traits(message.channel).typing_after_s
        if indicator is None or delay is None:
            yield
            return

        async def show() -> None:
            await asyncio.sleep(delay)
            with contextlib.suppress(Exception):  # a nicety: never fails a turn
                await indicator.show_typing(message.external_id)
        task = asyncio.create_task(show())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
