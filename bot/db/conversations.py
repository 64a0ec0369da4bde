"""Conversations and their sessions: finding a conversation, opening and closing sessions.

A conversation's session stays open while messages keep coming; after
SESSION_INACTIVITY_HOURS without activity the old one is closed and a new one
starts, so the bot does not drag yesterday's context into today's question.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from bot.db.pool import Conn, Database


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
# A turn's start: the opt-out flag, the session continued or started, the previous intent;
# an opted-out person's messages marked skipped (params in the function's order).
OPEN_TURN_SQL = "SELECT * FROM app.open_turn(%s, %s, %s, %s, %s, %s, %s)"
# The session's counters after a turn (params: unhelpful, session id).
SESSION_AFTER_TURN_SQL = (
    "UPDATE app.sessions SET outbound_count = outbound_count + 1,"
    " unhelpful_streak = CASE WHEN %s THEN unhelpful_streak + 1 ELSE 0 END"
    " WHERE id = %s RETURNING unhelpful_streak, status")


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


async def set_session_status(conn: Conn, session_id: UUID, status: str, *,
                             only_from: str | None = None) -> None:
    """`escalated` while a person has the conversation, `active` again after (only from
    `escalated`: a session closed meanwhile stays closed)."""
    if only_from is None:
        await conn.execute("UPDATE app.sessions SET status = %s WHERE id = %s",
                           (status, session_id))
    else:
        await conn.execute("UPDATE app.sessions SET status = %s WHERE id = %s AND status = %s",
                           (status, session_id, only_from))


async def close_session(conn: Conn, session_id: UUID, reason: str, at: datetime) -> None:
    await conn.execute("UPDATE app.sessions SET status = 'closed', closed_at = %s,"
                       " close_reason = %s WHERE id = %s", (at, reason, session_id))


@dataclass(frozen=True)
class FoundConversation:
    """A conversation found by its channel key, with its contact and last activity."""

    id: UUID
    contact_id: UUID
    last_activity_at: datetime | None


async def find_conversation(db: Database, channel: str, key: str) -> FoundConversation | None:
    """By channel and conversation key, before anyone acts as its contact (owner-privileged
    function: the caller does not know the contact yet)."""
    rows = await db.call_as_system("SELECT * FROM app.find_conversation(%s, %s)", (channel, key))
    if not rows:
        return None
    row = rows[0]
    return FoundConversation(row["conversation_id"], row["contact_id"], row["last_activity_at"])
