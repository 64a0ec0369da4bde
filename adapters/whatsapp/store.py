"""The WhatsApp adapter's state and writes: recipient state (read with the delivery),
sent parts, statuses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from bot.db.pool import Database
from bot.models import PendingDelivery


@dataclass(frozen=True)
class DeliveryState:
    """What decides whether and how a reply may go out, and which parts already did."""

    opted_out: bool = False
    last_inbound_at: datetime | None = None
    sent_sids: list[str] = field(default_factory=list)


def delivery_state(delivery: PendingDelivery) -> DeliveryState:
    """The recipient's state and the parts already sent, as read with the delivery."""
    return DeliveryState(delivery.recipient_opted_out, delivery.recipient_last_inbound_at,
                         list((delivery.raw or {}).get("twilio_sids", [])))


async def record_sent_parts(db: Database, delivery: PendingDelivery, sids: list[str]) -> None:
    """Keep the SIDs of the parts Twilio accepted so far on the reply row."""
    assert delivery.contact_id is not None
    async with db.as_user(delivery.contact_id, pipeline=True) as conn:
        await conn.execute(
            "UPDATE app.messages SET raw = coalesce(raw, '{}'::jsonb)"
            " || jsonb_build_object('twilio_sids', %s::jsonb) WHERE id = %s",
            (json.dumps(sids), delivery.id))


async def record_status(db: Database, channel: str, message_id: int | None, sid: str | None,
                        status: str, error: str | None) -> bool:
    """A status callback: no acting user, hence the owner-privileged function."""
    async with db.autocommit() as conn:
        cur = await conn.execute("SELECT app.record_delivery_status(%s, %s, %s, %s, %s) AS hit",
                                 (channel, message_id, sid, status, error))
        row = await cur.fetchone()
    return bool(row and row["hit"])
