"""Ingestion: persist an inbound message, then queue its conversation — before any ack.

Adapters call this from their webhook handlers. It does no LLM or outbound work,
so acknowledgements stay fast; a duplicate (a platform retry) is stored once and
only makes sure its conversation is queued.

Group commit: up to INGEST_MAX_IN_FLIGHT stores run at once, each message on its own
as long as there is room, so a bot under light load stores every message at once.
Messages arriving while all of them are busy wait for one to finish and are then
stored together, one statement and one commit for all of them (at most
INGEST_BATCH_MAX): under load the database does one commit per batch instead of one
per message. The batch's conversations that have no drain waiting get one queued, all
in one more statement, before their webhooks are answered. If a batch fails, its
messages are stored one by one, so a single bad message only fails its own webhook.
"""

from __future__ import annotations

import asyncio
from secrets import token_hex

import structlog
from prometheus_client import Counter

from bot.db import messages
from bot.db.pool import Database
from bot.inbound.queue import JobQueue
from bot.models import InboundMessage, IngestResult
from bot.observability import Metrics

log = structlog.get_logger(__name__)

_Waiting = tuple[InboundMessage, str, "asyncio.Future[IngestResult]"]


class Ingestor:
    """The `Ingest` callable handed to every adapter."""

    def __init__(self, db: Database, queue: JobQueue, metrics: Metrics, *,
                 batch_max: int = 100, max_in_flight: int = 4) -> None:
        self.db = db
        self.queue = queue
        self.metrics = metrics
        self.batch_max = max(1, batch_max)
        self.max_in_flight = max(1, max_in_flight)
        self._waiting: list[_Waiting] = []
        self._storing: set[asyncio.Task[None]] = set()
        self._inbound_counters: dict[str, Counter] = {}

    async def __call__(self, message: InboundMessage) -> IngestResult:
        trace_id = token_hex(16)  # a uuid4's 32 hex digits, without building a UUID
        result = await self._store(message, trace_id)  # stored, and its drain queued
        if result.duplicate:
            self.metrics.duplicates.labels(message.channel).inc()
            log.info("inbound_duplicate", channel=message.channel, message_id=result.message_id)
        else:
            self._inbound_counter(message.channel).inc()
            log.info("inbound_stored", channel=message.channel, message_id=result.message_id,
                     trace_id=trace_id, conversation_id=str(result.conversation_id))
        return result

    def _inbound_counter(self, channel: str) -> Counter:
        # prometheus_client's labels() validates and looks up on every call
        counter = self._inbound_counters.get(channel)
        if counter is None:
            counter = self._inbound_counters[channel] = self.metrics.inbound.labels(channel)
        return counter

    async def _store(self, message: InboundMessage, trace_id: str) -> IngestResult:
        stored: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, trace_id, stored))
        if len(self._storing) < self.max_in_flight:
            task = asyncio.create_task(self._store_waiting(), name="ingest")
            self._storing.add(task)
            task.add_done_callback(self._storing.discard)
        return await stored

    async def _store_waiting(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = self._waiting[:self.batch_max]
                del self._waiting[:self.batch_max]
                await self._store_together(batch)
        except BaseException:  # cancelled (shutting down): nobody may wait forever
            for _, _, stored in batch + self._waiting:
                _settle(stored, RuntimeError("ingestion stopped"))
            self._waiting.clear()
            raise

    async def _store_together(self, batch: list[_Waiting]) -> None:
        if len(batch) > 1:
            try:
                results = await self._store_batch([(m, t) for m, t, _ in batch])
            except Exception:
                log.warning("ingest_batch_failed_storing_one_by_one", size=len(batch))
            else:
                await self._queue_drains(batch, results)
                return
        for message, trace_id, stored in batch:
            try:
                (result,) = await self._store_batch([(message, trace_id)])
            except Exception as exc:
                _settle(stored, exc)
            else:
                await self._queue_drains([(message, trace_id, stored)], [result])

    async def _queue_drains(self, batch: list[_Waiting], results: list[IngestResult]) -> None:
        """Queue, in one statement, a drain for each conversation of the batch that has none
        waiting, then answer the batch's webhooks. Also on a duplicate: a crash between
        storing and queueing the first time must not leave the message waiting for the
        periodic recovery. If queueing fails, only the messages that needed it fail."""
        needed = {r.conversation_id: r.contact_id for r in results if not r.drain_waiting}
        error: Exception | None = None
        if needed:
            try:
                await self.queue.defer_drains(needed)
            except Exception as exc:
                error = exc
        for (_, _, stored), result in zip(batch, results, strict=True):
            _settle(stored, error if error is not None and not result.drain_waiting
                    else result)

    async def _store_batch(self, items: list[tuple[InboundMessage, str]]) -> list[IngestResult]:
        return await messages.ingest(self.db, items)


def _settle(stored: asyncio.Future[IngestResult], outcome: IngestResult | Exception) -> None:
    if stored.done():  # its webhook's request was cancelled
        return
    if isinstance(outcome, Exception):
        stored.set_exception(outcome)
    else:
        stored.set_result(outcome)
