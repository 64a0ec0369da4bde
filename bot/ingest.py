"""Ingestion: persist an inbound message, then queue its conversation — before any ack.

Adapters call this from their webhook handlers. It does no LLM or outbound work,
so acknowledgements stay fast; a duplicate (a platform retry) is stored once and
only makes sure its conversation is queued.
"""

from __future__ import annotations

from uuid import uuid4

import structlog

from bot.db import messages
from bot.db.messages import IngestResult
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.observability import Metrics
from bot.queue import JobQueue

log = structlog.get_logger(__name__)


class Ingestor:
    """The `Ingest` callable handed to every adapter."""

    def __init__(self, db: Database, queue: JobQueue, metrics: Metrics) -> None:
        self.db = db
        self.queue = queue
        self.metrics = metrics

    async def __call__(self, message: InboundMessage) -> IngestResult:
        trace_id = uuid4().hex
        async with self.db.autocommit() as conn:
            result = await messages.ingest(conn, message, trace_id)
        # Also on a duplicate: a crash between storing and queueing the first time must
        # not leave the message waiting for the periodic recovery.
        if not result.drain_waiting:
            await self.queue.defer_drain(result.conversation_id, result.contact_id)
        if result.duplicate:
            self.metrics.duplicates.labels(message.channel).inc()
            log.info("inbound_duplicate", channel=message.channel, message_id=result.message_id)
        else:
            self.metrics.inbound.labels(message.channel).inc()
            log.info("inbound_stored", channel=message.channel, message_id=result.message_id,
                     trace_id=trace_id, conversation_id=str(result.conversation_id))
        return result
