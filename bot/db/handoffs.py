"""Handoffs: the rows of `app.handoffs` and the statements that read and change them.

State changes go through `bot.handoff.transitions`, which pairs each with its audit
record and hook event; this module only knows the table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from bot.db.pool import Conn, Row

_VIEW_SQL = (
    "SELECT h.*, c.display_name, cv.channel FROM app.handoffs h"
    " JOIN app.contacts c ON c.id = h.contact_id"
    " JOIN app.conversations cv ON cv.id = h.conversation_id")
OPEN = ("waiting", "claimed")


async def insert(conn: Conn, *, contact_id: UUID, conversation_id: UUID, session_id: UUID,
                 trigger: str, reason: str, summary: str, intent: str | None,
                 at: datetime) -> UUID | None:
    """A new waiting handoff; None when the conversation has an open one already."""
    cur = await conn.execute(
        "INSERT INTO app.handoffs (contact_id, conversation_id, session_id, trigger, reason,"
        " summary, intent, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (conversation_id) WHERE status IN ('waiting', 'claimed') DO NOTHING"
        " RETURNING id",
        (contact_id, conversation_id, session_id, trigger, reason, summary, intent, at))
    row = await cur.fetchone()
    return None if row is None else UUID(str(row["id"]))


async def claim(conn: Conn, handoff_id: UUID, staff: str, at: datetime) -> datetime | None:
    """A waiting handoff claimed by `staff`; its creation time, or None if it was not
    waiting."""
    cur = await conn.execute(
        "UPDATE app.handoffs SET status = 'claimed', staff = %s, claimed_at = %s"
        " WHERE id = %s AND status = 'waiting' RETURNING created_at", (staff, at, handoff_id))
    row = await cur.fetchone()
    return None if row is None else row["created_at"]


async def close(conn: Conn, *, status: str, staff: str, at: datetime,
                handoff_id: UUID | None = None,
                conversation_id: UUID | None = None) -> Row | None:
    """An open handoff (by id, or the conversation's) resolved or returned to the bot;
    None when there was none open."""
    where, key = (("id = %s", handoff_id) if handoff_id is not None
                  else ("conversation_id = %s", conversation_id))
    cur = await conn.execute(
        "UPDATE app.handoffs SET status = %s, resolved_at = %s, staff = coalesce(staff, %s)"
        f" WHERE {where} AND status IN ('waiting', 'claimed')"
        " RETURNING id, created_at, resolved_at, session_id, conversation_id, contact_id",
        (status, at, staff, key))
    return await cur.fetchone()


async def row_with_recent(conn: Conn, handoff_id: UUID) -> tuple[Row, list[Row]]:
    """A handoff with its contact's name and channel, and the conversation's last six
    messages, oldest first."""
    cur = await conn.execute(_VIEW_SQL + " WHERE h.id = %s", (handoff_id,))
    row = await cur.fetchone()
    if row is None:
        raise LookupError("no such handoff")
    cur = await conn.execute(
        "SELECT direction, text, author FROM app.messages WHERE conversation_id = %s"
        " ORDER BY id DESC LIMIT 6", (row["conversation_id"],))
    return row, list(reversed(list(await cur.fetchall())))


async def open_of_conversation(conn: Conn, conversation_id: UUID) -> Row | None:
    cur = await conn.execute(
        _VIEW_SQL + " WHERE h.conversation_id = %s AND h.status IN ('waiting', 'claimed')",
        (conversation_id,))
    return await cur.fetchone()


async def open_ones(conn: Conn) -> list[Row]:
    cur = await conn.execute(_VIEW_SQL + " WHERE h.status IN ('waiting', 'claimed')"
                                         " ORDER BY h.created_at")
    return list(await cur.fetchall())


async def find_by_console(conn: Conn, key: str, value: str) -> UUID | None:
    """The handoff a console reference (e.g. a Slack message ts) belongs to."""
    cur = await conn.execute(
        "SELECT id FROM app.handoffs WHERE console ->> %s = %s"
        " ORDER BY created_at DESC LIMIT 1", (key, value))
    row = await cur.fetchone()
    return None if row is None else UUID(str(row["id"]))


async def recent_claim_waits(conn: Conn) -> list[float]:
    """Seconds from creation to claim of the last 20 claimed handoffs."""
    cur = await conn.execute(
        "SELECT extract(epoch FROM claimed_at - created_at) AS s FROM app.handoffs"
        " WHERE claimed_at IS NOT NULL ORDER BY claimed_at DESC LIMIT 20")
    return [float(r["s"]) for r in await cur.fetchall()]


async def mark_announced(conn: Conn, handoff_id: UUID, at: datetime | None) -> bool:
    """Mark a waiting handoff announced (once), or not announced again (`at` None)."""
    if at is None:
        await conn.execute("UPDATE app.handoffs SET announced_at = NULL WHERE id = %s",
                           (handoff_id,))
        return True
    cur = await conn.execute(
        "UPDATE app.handoffs SET announced_at = %s WHERE id = %s"
        " AND announced_at IS NULL AND status = 'waiting' RETURNING id", (at, handoff_id))
    return await cur.fetchone() is not None


async def add_console_refs(conn: Conn, handoff_id: UUID, refs: dict[str, str]) -> None:
    await conn.execute("UPDATE app.handoffs SET console = console || %s::jsonb WHERE id = %s",
                       (json.dumps(refs), handoff_id))


async def waiting(conn: Conn) -> list[Row]:
    cur = await conn.execute(
        "SELECT id, created_at, announced_at, reminded_at, user_notified_at, contact_id,"
        " conversation_id, session_id FROM app.handoffs WHERE status = 'waiting'")
    return list(await cur.fetchall())


async def mark(conn: Conn, handoff_id: UUID, column: str, at: datetime) -> None:
    """Record when staff were reminded (`reminded_at`) or the customer told to wait
    (`user_notified_at`)."""
    assert column in ("reminded_at", "user_notified_at")
    await conn.execute(f"UPDATE app.handoffs SET {column} = %s WHERE id = %s", (at, handoff_id))


async def lock(conn: Conn, handoff_id: UUID) -> None:
    """One staff action at a time per handoff (a console retrying a message sees the
    first one's result), until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (str(handoff_id),))


async def counts_and_medians(conn: Conn, since: datetime) -> tuple[list[Row], Row]:
    """Handoffs since a moment by trigger and intent (with how many wait), and the median
    seconds to claim and to resolve."""
    cur = await conn.execute(
        "SELECT trigger, coalesce(intent, 'none') AS intent, count(*) AS n,"
        " count(*) FILTER (WHERE status = 'waiting') AS waiting FROM app.handoffs"
        " WHERE created_at >= %s GROUP BY trigger, intent", (since,))
    groups = list(await cur.fetchall())
    cur = await conn.execute(
        "SELECT percentile_cont(0.5) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM claimed_at - created_at)) AS claim,"
        " percentile_cont(0.5) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM resolved_at - created_at)) AS resolve"
        " FROM app.handoffs WHERE created_at >= %s", (since,))
    return groups, await cur.fetchone() or {}


def console_refs(row: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (row["console"] or {}).items()}
