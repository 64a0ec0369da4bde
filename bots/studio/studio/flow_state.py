"""What the offline studio conversation remembers between turns, in `app.user_context`.

The last list shown (so "the second one" can be resolved) and the action waiting
for a yes. Stored as one `state` row per person that expires, under RLS like the
rest of the person's context.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, ValidationError

from bot.db.pool import Conn

STATE_KEY = "studio.flow"
STATE_TTL = timedelta(hours=2)


class PendingAction(BaseModel):
    """A booking or cancellation shown for confirmation."""

    action: Literal["book", "cancel"]
    id: int


class FlowState(BaseModel):
    """The studio conversation's short-term memory."""

    listed_classes: list[int] = Field(default_factory=list)
    listed_bookings: list[int] = Field(default_factory=list)
    pending: PendingAction | None = None


async def load_state(conn: Conn) -> FlowState:
    cur = await conn.execute(
        "SELECT value FROM app.user_context WHERE contact_id = auth.uid() AND key = %s"
        " AND (expires_at IS NULL OR expires_at > now())", (STATE_KEY,))
    row = await cur.fetchone()
    if row is None:
        return FlowState()
    try:
        return FlowState.model_validate(row["value"])
    except ValidationError:  # written by an older version: start afresh
        return FlowState()


async def save_state(conn: Conn, state: FlowState) -> None:
    await conn.execute(
        "INSERT INTO app.user_context (contact_id, key, value, kind, expires_at)"
        " VALUES (auth.uid(), %(key)s, %(value)s, 'state', now() + %(ttl)s)"
        " ON CONFLICT (contact_id, key) DO UPDATE SET value = excluded.value,"
        " expires_at = excluded.expires_at, updated_at = now()",
        {"key": STATE_KEY, "value": Jsonb(state.model_dump()), "ttl": STATE_TTL})
