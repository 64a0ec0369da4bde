"""Reads and writes of the messages table, always inside a unit of work."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from bot.db.pool import Conn, Database
from bot.models import (
    InboundMessage,
    IngestResult,
    Media,
    OutboundReply,
    PendingDelivery,
    StoredInbound,
)

# Stores messages given as a JSON array, in array order, one `app.ingest_message` call
# each. In the same statement: is a drain of the conversation queued and not yet
# started? Then it will read the message and queueing another is a wasted round trip
# (under load, most are). FOR SHARE keeps the queue from starting that job (its fetch
# skips locked rows) until the messages are committed.
INGEST_SQL = (
    "SELECT b.ord, m.*, EXISTS (SELECT 1 FROM procrastinate_jobs j"
    "  WHERE j.queueing_lock = m.conversation_id::text AND j.status = 'todo'"
    "  FOR SHARE) AS drain_waiting"
    " FROM jsonb_to_recordset(%s::jsonb) AS b(ord integer, channel text, sender_id text,"
    "  sender_name text, conversation_key text, external_id text, text text, payload text,"
    "  media jsonb, raw jsonb, received_at timestamptz, trace_id text)"
    " CROSS JOIN LATERAL app.ingest_message(b.channel, b.sender_id, b.sender_name,"
    "  b.conversation_key, b.external_id, b.text, b.payload, b.media, b.raw, b.received_at,"
    "  b.trace_id) m ORDER BY b.ord")


def _ingest_row(ord_: int, message: InboundMessage, trace_id: str) -> dict[str, Any]:
    raw = dict(message.raw)
    if message.location is not None:
        raw["_location"] = message.location.model_dump()
    if message.reply_to_external_id:
        raw["_reply_to_external_id"] = message.reply_to_external_id
    return {
        "ord": ord_, "channel": message.channel, "sender_id": message.sender_id,
        "sender_name": message.sender_name, "conversation_key": message.conversation_key,
        "external_id": message.external_id, "text": message.text, "payload": message.payload,
        "media": [m.model_dump(mode="json") for m in message.media], "raw": raw,
        "received_at": message.received_at.isoformat(), "trace_id": trace_id,
    }


async def ingest(db: Database, items: list[tuple[InboundMessage, str]]) -> list[IngestResult]:
    """Store inbound messages (with their trace ids) once each, in one statement, one
    commit and one round trip; a repeat of (channel, external_id) is a duplicate.
    One failing message fails them all (the caller may then store them one by one)."""
    rows = [_ingest_row(n, message, trace_id) for n, (message, trace_id) in enumerate(items)]
    found = await db.call_as_system(INGEST_SQL, (json.dumps(rows),))
    assert len(found) == len(items)
    return [IngestResult(r["message_id"], r["conversation_id"], r["contact_id"],
                         r["duplicate"], r["drain_waiting"]) for r in found]


def _inbound(row: dict[str, Any]) -> StoredInbound:
    return StoredInbound(
        id=row["id"], contact_id=row["contact_id"], conversation_id=row["conversation_id"],
        channel=row["channel"], external_id=row["external_id"], text=row["text"],
        payload=row["payload"], media=[Media.model_validate(m) for m in row["media"]],
        received_at=row["received_at"], attempts=row["attempts"], trace_id=row["trace_id"],
    )


async def read_unanswered(db: Database, contact_id: UUID, conversation_id: UUID,
                          limit: int = 1) -> list[StoredInbound]:
    """The oldest inbound messages of a conversation that have no answer yet, in order
    (one round trip, acting as the contact)."""
    async with db.in_one_trip(contact_id) as unit:
        waiting = unit.add(UNANSWERED_SQL, (conversation_id, limit))
    return unanswered_from(waiting.rows)


# params: conversation id, how many
UNANSWERED_SQL = (
    "SELECT id, contact_id, conversation_id, channel, external_id, text, payload, media,"
    " received_at, attempts, trace_id FROM app.messages"
    " WHERE conversation_id = %s AND direction = 'in' AND status = 'received'"
    " ORDER BY id LIMIT %s")


def unanswered_from(rows: list[dict[str, Any]]) -> list[StoredInbound]:
    """`UNANSWERED_SQL` rows as stored inbound messages."""
    return [_inbound(r) for r in rows]


async def record_attempt(conn: Conn, message_ids: list[int], error: str) -> int:
    """Count a failed attempt on the messages of a turn; return the highest count."""
    cur = await conn.execute(
        "UPDATE app.messages SET attempts = attempts + 1, error = %s,"
        " updated_at = clock_timestamp() WHERE id = ANY(%s) RETURNING attempts",
        (error[:500], message_ids),
    )
    return max((r["attempts"] for r in await cur.fetchall()), default=0)


# One outbound message (a reply, a staff message, a notice), on its conversation's channel.
# A reply is keyed to the inbound message it answers: a second attempt inserts nothing.
_OUTBOUND_SQL = (
    "INSERT INTO app.messages (contact_id, conversation_id, session_id, direction, channel,"
    " reply_to, text, rich, status, author, raw, trace_id)"
    " SELECT %s, c.id, %s, 'out', c.channel, %s, %s, %s::jsonb, 'pending', %s, %s::jsonb, %s"
    " FROM app.conversations c WHERE c.id = %s"
    " ON CONFLICT (reply_to, reply_seq) WHERE direction = 'out' DO NOTHING")


async def queue_outbound(conn: Conn, *, contact_id: UUID, conversation_id: UUID,
                         session_id: UUID | None, reply: OutboundReply,
                         reply_to: int | None = None, author: str | None = None,
                         raw: dict[str, Any] | None = None,
                         trace_id: str | None = None) -> None:
    """Store an outbound message for delivery (`pending`); nothing is read back, so in
    pipeline mode it costs no round trip of its own."""
    await conn.execute(_OUTBOUND_SQL, (
        contact_id, session_id, reply_to, reply.text, reply.model_dump_json(), author,
        None if raw is None else json.dumps(raw), trace_id, conversation_id))


async def save_reply(
    conn: Conn,
    *,
    inbound: list[StoredInbound],
    session_id: UUID | None,
    reply: OutboundReply,
    inbound_status: str = "answered",
) -> None:
    """Store the reply to a turn and mark its inbound messages answered, atomically.

    The reply is keyed to the last inbound message; a second attempt at the same
    turn inserts nothing.
    """
    last = inbound[-1]
    await queue_outbound(conn, contact_id=last.contact_id, conversation_id=last.conversation_id,
                         session_id=session_id, reply=reply, reply_to=last.id,
                         trace_id=last.trace_id)
    await conn.execute(
        "UPDATE app.messages SET status = %s, session_id = coalesce(session_id, %s),"
        " updated_at = clock_timestamp() WHERE id = ANY(%s) AND status = 'received'",
        (inbound_status, session_id, [m.id for m in inbound]),
    )


async def sent_from_console(conn: Conn, conversation_id: UUID, source: str) -> bool:
    """Whether a staff message from this console message is stored already (a retry)."""
    cur = await conn.execute(
        "SELECT 1 FROM app.messages WHERE conversation_id = %s AND direction = 'out'"
        " AND raw ->> 'console_source' = %s", (conversation_id, source))
    return await cur.fetchone() is not None


async def mark_skipped(conn: Conn, message_ids: list[int], session_id: UUID) -> None:
    """Stored but deliberately not answered (e.g. over a rate limit after the notice)."""
    await conn.execute(
        "UPDATE app.messages SET status = 'skipped', session_id = coalesce(session_id, %s),"
        " updated_at = clock_timestamp() WHERE id = ANY(%s) AND status = 'received'",
        (session_id, message_ids),
    )


async def mark_relayed(conn: Conn, message_ids: list[int], session_id: UUID) -> None:
    """Stored and passed on to staff during a handoff; the bot does not answer."""
    await conn.execute(
        "UPDATE app.messages SET status = 'relayed', session_id = coalesce(session_id, %s),"
        " updated_at = clock_timestamp() WHERE id = ANY(%s) AND status = 'received'",
        (session_id, message_ids),
    )


async def undelivered(conn: Conn, conversation_id: UUID) -> list[PendingDelivery]:
    """Outbound replies of a conversation not yet handed to the platform, oldest first."""
    cur = await conn.execute(UNDELIVERED_SQL, (conversation_id,))
    return undelivered_from(await cur.fetchall())


# param: conversation id
UNDELIVERED_SQL = (
    "SELECT o.id, o.conversation_id, o.contact_id, o.channel, o.rich, o.text, o.reply_to,"
    " o.status, o.attempts, o.author,"
    " extract(epoch FROM clock_timestamp() - o.updated_at)::float8 AS age_s,"
    " c.conversation_key, i.external_id AS reply_to_external_id,"
    " (SELECT ci.external_id FROM app.channel_identities ci"
    "   WHERE ci.contact_id = o.contact_id AND ci.channel = o.channel LIMIT 1) AS recipient,"
    " ct.opted_out AS recipient_opted_out, ct.last_inbound_at AS recipient_last_inbound_at,"
    " o.raw"
    " FROM app.messages o JOIN app.conversations c ON c.id = o.conversation_id"
    " LEFT JOIN app.contacts ct ON ct.id = o.contact_id"
    " LEFT JOIN app.messages i ON i.id = o.reply_to"
    " WHERE o.conversation_id = %s AND o.direction = 'out'"
    " AND o.status IN ('pending', 'sending') ORDER BY o.id")


# The conversation's first undelivered reply, marked `sending` when it is still
# `pending` and its channel is one of the given ones (params: conversation id, channels).
CLAIM_FIRST_PENDING_SQL = (
    "UPDATE app.messages SET status = 'sending', error = NULL, attempts = attempts + 1,"
    " updated_at = clock_timestamp()"
    " WHERE id = (SELECT id FROM app.messages WHERE conversation_id = %s"
    "   AND direction = 'out' AND status IN ('pending', 'sending') ORDER BY id LIMIT 1)"
    " AND status = 'pending' AND channel = ANY(%s) RETURNING id")


def undelivered_from(rows: list[dict[str, Any]]) -> list[PendingDelivery]:
    """`UNDELIVERED_SQL` rows as deliveries."""
    result = []
    for r in rows:
        reply = (OutboundReply.model_validate(r["rich"]) if r["rich"]
                 else OutboundReply(text=r["text"]))
        result.append(PendingDelivery(
            id=r["id"], conversation_id=r["conversation_id"], channel=r["channel"],
            conversation_key=r["conversation_key"],
            recipient=r["recipient"] or "", reply=reply, reply_to=r["reply_to"],
            reply_to_external_id=r["reply_to_external_id"], status=r["status"],
            attempts=r["attempts"], author=r["author"], contact_id=r["contact_id"],
            age_s=float(r["age_s"] or 0.0),
            recipient_opted_out=bool(r["recipient_opted_out"]),
            recipient_last_inbound_at=r["recipient_last_inbound_at"], raw=r["raw"],
        ))
    return result


# params: status, external id, error, status (again), message id
#: a claimed reply handed back unsent (its channel's sends were all busy): not an attempt
RELEASE_CLAIM_SQL = (
    "UPDATE app.messages SET status = 'pending', attempts = greatest(attempts - 1, 0),"
    " updated_at = clock_timestamp() WHERE id = %s AND status = 'sending'")


SET_DELIVERY_STATUS_SQL = (
    "UPDATE app.messages SET status = %s, external_id = coalesce(%s, external_id),"
    " error = %s, attempts = attempts + CASE WHEN %s = 'sending' THEN 1 ELSE 0 END,"
    " updated_at = clock_timestamp() WHERE id = %s")


async def history(conn: Conn, conversation_id: UUID, limit: int) -> list[dict[str, Any]]:
    """The last `limit` messages of a conversation, oldest first.

    `speaker` is who wrote each one: "user", "bot", or "staff" (a person of the team
    during a handoff, named in `author`), so the bot continues with what they said.
    """
    cur = await conn.execute(HISTORY_SQL, (conversation_id, limit))
    return list(await cur.fetchall())


# params: conversation id, how many
HISTORY_SQL = (
    "SELECT id, direction, text, rich, payload, status, created_at, author,"
    " CASE WHEN direction = 'in' THEN 'user' WHEN author IS NOT NULL THEN 'staff'"
    " ELSE 'bot' END AS speaker FROM ("
    " SELECT * FROM app.messages WHERE conversation_id = %s ORDER BY id DESC LIMIT %s"
    ") recent ORDER BY id")
