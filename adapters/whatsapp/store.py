"""The WhatsApp adapter's state and writes: recipient state (read with the delivery),
sent parts, statuses, Content API templates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

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
    rows = await db.call_as_system("SELECT app.record_delivery_status(%s, %s, %s, %s, %s) AS hit",
                                   (channel, message_id, sid, status, error))
    return bool(rows and rows[0]["hit"])


async def template_sid(db: Database, contact_id: UUID, shape_hash: str) -> str | None:
    """The Content API template of a shape, if one was created (read as any acting user:
    the templates hold no user data)."""
    async with db.as_user(contact_id) as conn:
        cur = await conn.execute("SELECT content_sid FROM app.whatsapp_content_templates"
                                 " WHERE shape_hash = %s", (shape_hash,))
        row = await cur.fetchone()
    return None if row is None else str(row["content_sid"])


async def keep_template(db: Database, contact_id: UUID, shape_hash: str, kind: str,
                        created: str) -> str:
    """Record a template just created; the first one stored wins a race between processes."""
    async with db.as_user(contact_id) as conn:
        await conn.execute(
            "INSERT INTO app.whatsapp_content_templates (shape_hash, content_sid, kind)"
            " VALUES (%s, %s, %s) ON CONFLICT (shape_hash) DO NOTHING",
            (shape_hash, created, kind))
        cur = await conn.execute("SELECT content_sid FROM app.whatsapp_content_templates"
                                 " WHERE shape_hash = %s", (shape_hash,))
        row = await cur.fetchone()
    assert row is not None
    return str(row["content_sid"])
