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
                 ) -> None:
        self.db = db
        self.adapters = adapters
        self.metrics = metrics
        self.on_failed = on_failed

    async def flush(self, conversation_id: UUID, contact_id: UUID) -> int:
        """Deliver every pending reply of a conversation; return how many were sent."""
        async with self.db.as_user(contact_id) as conn:
            pending = await messages.undelivered(conn, conversation_id)
        sent = 0
        for item in pending:
            adapter = self.adapters.get(item.channel)
            if adapter is None:
                await self._finish(contact_id, item.id, "failed", error="channel not configured")
                continue
            if item.status == "sending":
                confirmed = await adapter.was_sent(item)
                if confirmed:
                    await self._finish(contact_id, item.id, "sent")
                    continue
            async with self.db.as_user(contact_id) as conn:
                await messages.set_delivery_status(conn, item.id, "sending")
            result = await adapter.send(item)
            self.metrics.deliveries.labels(item.channel, result.status).inc()
            if result.status == "retry":
                async with self.db.as_user(contact_id) as conn:
                    await messages.set_delivery_status(conn, item.id, "pending", error=result.error)
                raise RetryDelivery(result.retry_after_s)
            await self._finish(contact_id, item.id, result.status,
                               external_id=result.external_id, error=result.error)
            if result.status == "sent":
                sent += 1
            else:
                log.warning("delivery_failed", message_id=item.id, channel=item.channel,
                            error=result.error)
                if self.on_failed is not None:
                    await self.on_failed(item, result.error or "delivery failed")
        return sent

    async def _finish(self, contact_id: UUID, message_id: int, status: str, *,
                      external_id: str | None = None, error: str | None = None) -> None:
        async with self.db.as_user(contact_id) as conn:
            await messages.set_delivery_status(conn, message_id, status,
                                               external_id=external_id, error=error)
