"""The deliver stage: hands stored replies to their channel, once each, in order.

A reply row exists before anything is sent (written with the turn's result). Here
it moves pending → sending → sent | failed. A row found in `sending` after a crash
is only sent again when the adapter cannot confirm the platform already has it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import structlog

from adapters.base import ChannelAdapter
from bot.db import messages
from bot.db.messages import PendingDelivery
from bot.db.pool import Database
from bot.observability import Metrics

log = structlog.get_logger(__name__)


class RetryDelivery(Exception):
    """A send failed transiently; the conversation is retried later."""

    def __init__(self, retry_after_s: float | None) -> None:
        super().__init__("delivery will be retried")
        self.retry_after_s = retry_after_s


class Deliverer:
    """Sends a conversation's undelivered replies through their adapters."""

    def __init__(self, db: Database, adapters: dict[str, ChannelAdapter], metrics: Metrics,
                 on_failed: Callable[[PendingDelivery, str], Awaitable[None]] | None = None,
                 in_flight_s: float = 20.0) -> None:
        self.db = db
        self.adapters = adapters
        self.metrics = metrics
        self.on_failed = on_failed
        # A `sending` row younger than this may still be in another worker's hands: a
        # drain recovered as stalled while its first run goes on (a heartbeat late
        # under load). Sending it again now could deliver it twice.
        self.in_flight_s = in_flight_s

    async def flush(self, conversation_id: UUID, contact_id: UUID,
                    pending: list[PendingDelivery] | None = None) -> int:
        """Deliver every pending reply of a conversation (`pending`: already read in this
        drain); return how many were sent."""
        claimed: int | None = None
        if pending is None:
            async with self.db.as_user(contact_id, pipeline=True) as conn:
                pending = await messages.undelivered(conn, conversation_id)
                first = pending[0] if pending else None
                if first and first.status == "pending" and first.channel in self.adapters:
                    # the usual case, one fresh reply: marked `sending` in the same round trip
                    await messages.set_delivery_status(conn, first.id, "sending")
                    claimed = first.id
        sent = 0
        for item in pending:
            adapter = self.adapters.get(item.channel)
            if adapter is None:
                await self._set_status(contact_id, item.id, "failed",
                                       error="channel not configured")
                continue
            if item.status == "sending":
                confirmed = await adapter.was_sent(item)
                if confirmed:
                    await self._set_status(contact_id, item.id, "sent")
                    continue
                if item.age_s < self.in_flight_s:
                    log.info("delivery_in_flight_elsewhere", message_id=item.id,
                             age_s=round(item.age_s, 2))
                    raise RetryDelivery(max(0.5, self.in_flight_s - item.age_s))
            if item.id != claimed:
                await self._set_status(contact_id, item.id, "sending")
            result = await adapter.send(item)
            self.metrics.deliveries.labels(item.channel, result.status).inc()
            if result.status == "retry":
                await self._set_status(contact_id, item.id, "pending", error=result.error)
                raise RetryDelivery(result.retry_after_s)
            await self._set_status(contact_id, item.id, result.status,
                               external_id=result.external_id, error=result.error)
            if result.status == "sent":
                sent += 1
            else:
                log.warning("delivery_failed", message_id=item.id, channel=item.channel,
                            error=result.error)
                if self.on_failed is not None:
                    await self.on_failed(item, result.error or "delivery failed")
        return sent

    async def _set_status(self, contact_id: UUID, message_id: int, status: str, *,
                      external_id: str | None = None, error: str | None = None) -> None:
        async with self.db.as_user(contact_id, pipeline=True) as conn:
            await messages.set_delivery_status(conn, message_id, status,
                                               external_id=external_id, error=error)
