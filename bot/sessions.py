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

from bot.db.pool import Conn


@dataclass(frozen=True)
class SessionInfo:
    """The session a turn runs in."""

    id: UUID
    status: str
    summary: str
    is_new: bool
    inbound_count: int


def session_info(row: dict[str, Any]) -> SessionInfo:
    """A session from `app.open_session` / `app.open_turn` columns."""
    return SessionInfo(row["id"], row["status"], row["summary"], bool(row["is_new"]),
                       row["inbound_count"])


# The session logic lives in the database (migrations/0600_turn_functions.sql), so a
# turn can open it in the same round trip as its other reads.
OPEN_SESSION_SQL = "SELECT * FROM app.open_session(%s, %s, %s, %s, %s)"


async def open_session(
    conn: Conn,
    *,
    conversation_id: UUID,
    contact_id: UUID,
    at: datetime,
    inactivity: timedelta,
    inbound: int = 1,
) -> SessionInfo:
    """The open session for a message arriving at `at`: continued while its last activity
    is less than `inactivity` before `at`, otherwise closed and a new one started."""
    cur = await conn.execute(OPEN_SESSION_SQL,
                             (conversation_id, contact_id, at, inactivity, inbound))
    row = await cur.fetchone()
    assert row is not None
    return session_info(row)


async def close_conversation_session(conn: Conn, conversation_id: UUID, reason: str) -> bool:
    """Close the open session of a conversation (no rows are deleted)."""
    cur = await conn.execute(
        "UPDATE app.sessions SET status = 'closed', closed_at = now(), close_reason = %s"
        " WHERE conversation_id = %s AND status <> 'closed' RETURNING id",
        (reason, conversation_id),
    )
    return await cur.fetchone() is not None
