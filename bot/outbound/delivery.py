"""The deliver stage: hands stored replies to their channel, once each, in order.

A reply row exists before anything is sent (written with the turn's result). Here
it moves pending → sending → sent | failed. A row found in `sending` after a crash
is only sent again when the adapter cannot confirm the platform already has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import psycopg
import structlog

from bot.channels import SendResult
from bot.channels.directory import Channels
from bot.db import messages
from bot.db.notify import NOTIFY_SQL, notice_params, notify_params
from bot.db.pool import Conn, Database, Row
from bot.models import ConversationNotice, PendingDelivery, StoredInbound, StreamEvent
from bot.observability import Metrics

log = structlog.get_logger(__name__)


class RetryDelivery(Exception):
    """A send failed transiently; the conversation is retried later."""

    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__("delivery will be retried")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ClaimedReplies:
    """A conversation's undelivered replies, read in the transaction that stored the
    newest, with the first of them already marked `sending` (`claimed`)."""

    pending: list[PendingDelivery]
    claimed: int | None


class DeliveryFailures(Protocol):
    """Told about every reply the platform refused for good (staff learn of theirs)."""

    async def delivery_failed(self, delivery: PendingDelivery, error: str) -> None: ...


@dataclass(frozen=True)
class QueuedClaim:
    """The claim queued in a pipelined transaction; `read` it after the commit."""

    claim: psycopg.AsyncCursor[Row]
    rows: psycopg.AsyncCursor[Row]

    async def read(self) -> ClaimedReplies:
        first = await self.claim.fetchone()
        return ClaimedReplies(messages.undelivered_from(await self.rows.fetchall()),
                              None if first is None else int(first["id"]))


@dataclass(frozen=True)
class ReplyClaim:
    """Claims a conversation's next reply for delivery inside the transaction that stores
    it (a turn's unit), instead of in a round trip of its own."""

    conversation_id: UUID
    channels: list[str]

    async def queue(self, conn: Conn) -> QueuedClaim:
        claim = await conn.execute(messages.CLAIM_FIRST_PENDING_SQL,
                                   (self.conversation_id, self.channels))
        rows = await conn.execute(messages.UNDELIVERED_SQL, (self.conversation_id,))
        return QueuedClaim(claim, rows)


@dataclass(frozen=True)
class DeliveryLimits:
    """How many sends a channel may have in flight, and how refused sends are retried
    (DELIVERY_* settings)."""

    sends_per_channel: int = 8
    busy_retry_s: float = 1.0
    retry_base_s: float = 0.5
    retry_max_wait_s: float = 300.0
    max_attempts: int = 12

    def retry_in(self, attempts: int, retry_after_s: float | None) -> float:
        """When to try again after `attempts` tries: Retry-After if the platform said,
        at least the exponential backoff, never more than the cap."""
        backoff = self.retry_base_s * 2.0 ** max(0, attempts - 1)
        return min(self.retry_max_wait_s, max(backoff, retry_after_s or 0.0))


class ChannelSendSlots:
    """Sends in flight per channel in this process, at most `limit` each: a channel whose
    platform hangs holds at most that many worker slots (its other replies wait in the
    queue, not in a worker), so the other channels keep theirs. A plain counter: the
    event loop is the only writer, and a full channel is never waited on."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.busy: dict[str, int] = {}

    def take(self, channel: str) -> bool:
        if self.busy.get(channel, 0) >= self.limit:
            return False
        self.busy[channel] = self.busy.get(channel, 0) + 1
        return True

    def give_back(self, channel: str) -> None:
        self.busy[channel] -= 1


class Deliverer:
    """Sends a conversation's undelivered replies through their adapters."""

    def __init__(self, db: Database, channels: Channels, metrics: Metrics,
                 failures: DeliveryFailures | None = None, in_flight_s: float = 20.0,
                 limits: DeliveryLimits | None = None) -> None:
        self.db = db
        self.channels = channels
        self.metrics = metrics
        self.failures = failures
        self.limits = limits or DeliveryLimits()
        self.slots = ChannelSendSlots(self.limits.sends_per_channel)
        # A `sending` row younger than this may still be in another worker's hands: a
        # drain recovered as stalled while its first run goes on (a heartbeat late
        # under load). Sending it again now could deliver it twice.
        self.in_flight_s = in_flight_s

    async def flush(self, conversation_id: UUID, contact_id: UUID,
                    pending: list[PendingDelivery] | None = None) -> int:
        """Deliver every pending reply of a conversation (`pending`: already read in this
        drain); return how many were sent."""
        sent, _ = await self.flush_then_read_next(conversation_id, contact_id, pending)
        return sent

    def claim(self, conversation_id: UUID) -> ReplyClaim:
        """What `flush` would otherwise read and claim in a round trip of its own, to queue
        in the transaction that stores a reply."""
        return ReplyClaim(conversation_id, self.channels.names())

    async def flush_then_read_next(
        self, conversation_id: UUID, contact_id: UUID,
        pending: list[PendingDelivery] | None = None,
        ready: ClaimedReplies | None = None,
    ) -> tuple[int, list[StoredInbound] | None]:
        """`flush`, and the conversation's oldest unanswered message read in the round
        trip of the last status update (None when nothing was delivered, so nothing
        was read). `ready`: the replies read and claimed with the turn's commit."""
        claimed: int | None = None
        if ready is not None:
            pending, claimed = ready.pending, ready.claimed
        if pending is None:
            # The usual case, one fresh reply: it is marked `sending` in the read's round trip.
            async with self.db.in_one_trip(contact_id) as unit:
                claim = unit.add(messages.CLAIM_FIRST_PENDING_SQL,
                                 (conversation_id, self.channels.names()))
                rows = unit.add(messages.UNDELIVERED_SQL, (conversation_id,))
            first = claim.one()
            claimed = None if first is None else int(first["id"])
            pending = messages.undelivered_from(rows.rows)
        sent = 0
        following: list[StoredInbound] | None = None
        for n, item in enumerate(pending):
            read_next = conversation_id if n == len(pending) - 1 else None
            adapter = self.channels.get(item.channel)
            if adapter is None:
                following = await self._set_status(contact_id, item.id, "failed",
                                                   error="channel not configured",
                                                   read_next=read_next)
                continue
            if item.status == "sending" and item.id != claimed:
                confirmed = await adapter.was_sent(item)
                if confirmed:
                    following = await self._set_status(contact_id, item.id, "sent",
                                                       read_next=read_next)
                    continue
                if item.age_s < self.in_flight_s:
                    log.info("delivery_in_flight_elsewhere", message_id=item.id,
                             age_s=round(item.age_s, 2))
                    raise RetryDelivery(max(0.5, self.in_flight_s - item.age_s))
            if not self.slots.take(item.channel):
                if item.id == claimed:
                    await self._release(contact_id, item.id)
                self.metrics.deliveries.labels(item.channel, "busy").inc()
                raise RetryDelivery(self.limits.busy_retry_s)
            try:
                if item.id != claimed:
                    await self._set_status(contact_id, item.id, "sending")
                result = await adapter.send(item)
            finally:
                self.slots.give_back(item.channel)
            self.metrics.deliveries.labels(item.channel, result.status).inc()
            attempts = item.attempts + (0 if item.id == claimed else 1)
            if result.status == "retry" and attempts < self.limits.max_attempts:
                await self._set_status(contact_id, item.id, "pending", error=result.error)
                raise RetryDelivery(self.limits.retry_in(attempts, result.retry_after_s))
            if result.status == "retry":  # refused for now, every time: for good
                result = SendResult("failed", result.external_id,
                                    f"gave up after {attempts} attempts: {result.error}"[:500])
            # Channels that stream progress learn here that the reply is theirs, and the
            # conversation's followers (an open page) that a message was sent into it:
            # the events go with the status update and are sent when it commits.
            events = []
            if (adapter.streams_progress and result.status == "sent"
                    and item.reply_to is not None):
                events.append(notify_params(StreamEvent(
                    message_id=item.reply_to, event="done",
                    data={"reply": item.reply.model_dump()})))
            if adapter.traits.announces_deliveries and result.status == "sent":
                events.append(notice_params(ConversationNotice(
                    conversation_id=item.conversation_id, message_id=item.id,
                    reply_to=item.reply_to, author=item.author)))
            following = await self._set_status(contact_id, item.id, result.status,
                                               external_id=result.external_id,
                                               error=result.error, read_next=read_next,
                                               events=events)
            if result.status == "sent":
                sent += 1
            else:
                log.warning("delivery_failed", message_id=item.id, channel=item.channel,
                            error=result.error)
                if self.failures is not None:
                    await self.failures.delivery_failed(item, result.error or "delivery failed")
        return sent, following

    async def _release(self, contact_id: UUID, message_id: int) -> None:
        async with self.db.in_one_trip(contact_id) as unit:
            unit.add(messages.RELEASE_CLAIM_SQL, (message_id,))

    async def _set_status(self, contact_id: UUID, message_id: int, status: str, *,
                          external_id: str | None = None, error: str | None = None,
                          read_next: UUID | None = None,
                          events: list[tuple[str, str]] | None = None,
                          ) -> list[StoredInbound] | None:
        """Record a delivery outcome; with `read_next` (a conversation), read its oldest
        unanswered message in the same round trip; `events` are published on commit."""
        waiting = None
        async with self.db.in_one_trip(contact_id) as unit:
            unit.add(messages.SET_DELIVERY_STATUS_SQL,
                     (status, external_id, error, status, message_id))
            for event in events or ():
                unit.add(NOTIFY_SQL, event)
            if read_next is not None:
                waiting = unit.add(messages.UNANSWERED_SQL, (read_next, 1))
        return None if waiting is None else messages.unanswered_from(waiting.rows)
