"""Intent classifications: one row per classified turn (its last message)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from bot.db.pool import Conn


async def previous_intent(conn: Conn, session_id: UUID,
                          skip: Sequence[str] = ()) -> str | None:
    """The intent of the session's last classified turn (not one of `skip`), for
    follow-up inheritance."""
    cur = await conn.execute(
        "SELECT ic.intent FROM app.intent_classifications ic"
        " JOIN app.messages m ON m.id = ic.message_id"
        " WHERE m.session_id = %s AND NOT (ic.intent = ANY(%s))"
        " ORDER BY ic.id DESC LIMIT 1",
        (session_id, list(skip)),
    )
    row = await cur.fetchone()
    return None if row is None else str(row["intent"])


async def store(conn: Conn, *, contact_id: UUID, message_id: int, intent: str,
                confidence: float, method: str, alternatives: Sequence[tuple[str, float]],
                latency_ms: float) -> None:
    await conn.execute(
        "INSERT INTO app.intent_classifications"
        " (contact_id, message_id, intent, confidence, method, alternatives, latency_ms)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)",
        (contact_id, message_id, intent, confidence, method,
         json.dumps([{"intent": i, "confidence": c} for i, c in alternatives]), latency_ms),
    )


async def count_in_session(conn: Conn, session_id: UUID, intent: str) -> int:
    """How many of the session's turns were classified as `intent`."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM app.intent_classifications c"
        " JOIN app.messages m ON m.id = c.message_id"
        " WHERE m.session_id = %s AND c.intent = %s", (session_id, intent))
    row = await cur.fetchone()
    return int(row["n"]) if row else 0
