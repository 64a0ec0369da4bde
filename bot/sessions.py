"""The session stage: which stretch of the conversation a message belongs to.

A conversation's session stays open while messages keep coming; after
SESSION_INACTIVITY_HOURS without activity the old one is closed and a new one
starts, so the bot does not drag yesterday's context into today's question.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncCursor

from bot.db.pool import Conn


@dataclass(frozen=True)
class SessionInfo:
    """The session a turn runs in."""

    id: UUID
    status: str
    summary: str
    is_new: bool
    inbound_count: int


def starts_new_session(last_activity: datetime, at: datetime, inactivity: timedelta) -> bool:
    """True when a message at `at` comes after the inactivity gap (the boundary itself counts)."""
    return at - last_activity >= inactivity


def _info(row: dict[str, Any], is_new: bool) -> SessionInfo:
    return SessionInfo(row["id"], row["status"], row["summary"], is_new, row["inbound_count"])


# The conversation's open session, locked for this turn (param: conversation id).
CURRENT_SESSION_SQL = (
    "SELECT id, status, summary, inbound_count, last_activity_at FROM app.sessions"
    " WHERE conversation_id = %s AND status <> 'closed' FOR UPDATE")


async def open_session(
    conn: Conn,
    *,
    conversation_id: UUID,
    contact_id: UUID,
    at: datetime,
    inactivity: timedelta,
    inbound: int = 1,
    current: AsyncCursor[dict[str, Any]] | None = None,
) -> SessionInfo:
    """The open session for a message arriving at `at`, closing a stale one first.

    `current` is `CURRENT_SESSION_SQL` already sent in this unit of work (pipeline mode
    lets the caller queue it with other reads)."""
    cur = current or await conn.execute(CURRENT_SESSION_SQL, (conversation_id,))
    row = await cur.fetchone()
    if row is not None and not starts_new_session(row["last_activity_at"], at, inactivity):
        cur = await conn.execute(
            "UPDATE app.sessions SET inbound_count = inbound_count + %s,"
            " last_activity_at = greatest(last_activity_at, %s) WHERE id = %s"
            " RETURNING id, status, summary, inbound_count",
            (inbound, at, row["id"]),
        )
        updated = await cur.fetchone()
        assert updated is not None
        return _info(updated, is_new=False)
    if row is not None:
        await conn.execute(
            "UPDATE app.sessions SET status = 'closed', closed_at = %s, close_reason = 'inactive'"
            " WHERE id = %s",
            (at, row["id"]),
        )
    cur = await conn.execute(
        "INSERT INTO app.sessions (conversation_id, contact_id, inbound_count, started_at,"
        " last_activity_at) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING id, status, summary, inbound_count",
        (conversation_id, contact_id, inbound, at, at),
    )
    created = await cur.fetchone()
    assert created is not None
    return _info(created, is_new=True)


async def close_conversation_session(conn: Conn, conversation_id: UUID, reason: str) -> bool:
    """Close the open session of a conversation (no rows are deleted)."""
    cur = await conn.execute(
        "UPDATE app.sessions SET status = 'closed', closed_at = now(), close_reason = %s"
        " WHERE conversation_id = %s AND status <> 'closed' RETURNING id",
        (reason, conversation_id),
    )
    return await cur.fetchone() is not None
