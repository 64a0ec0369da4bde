"""Reads behind the conversation views, across all users (owner role, admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from bot.admin.schemas import ConversationSummary, LlmCall, ToolCall, Transcript, TranscriptMessage
from bot.db.pool import Conn
from bot.pii import mask_pii

_CONVERSATIONS = """
SELECT cv.id, cv.channel, c.display_name, ci.external_id, s.status AS session_status,
       h.status AS handoff_status, lm.created_at AS last_message_at,
       lm.direction AS last_direction, li.intent AS last_intent
FROM app.conversations cv
JOIN app.contacts c ON c.id = cv.contact_id
LEFT JOIN LATERAL (SELECT created_at, direction FROM app.messages
                   WHERE conversation_id = cv.id ORDER BY id DESC LIMIT 1) lm ON true
LEFT JOIN LATERAL (SELECT status FROM app.sessions WHERE conversation_id = cv.id
                   ORDER BY started_at DESC LIMIT 1) s ON true
LEFT JOIN LATERAL (SELECT ic.intent FROM app.messages m
                   JOIN app.intent_classifications ic ON ic.message_id = m.id
                   WHERE m.conversation_id = cv.id ORDER BY m.id DESC, ic.id DESC LIMIT 1) li
       ON true
LEFT JOIN LATERAL (SELECT status FROM app.handoffs WHERE conversation_id = cv.id
                   AND status IN ('waiting', 'claimed') LIMIT 1) h ON true
LEFT JOIN LATERAL (SELECT external_id FROM app.channel_identities
                   WHERE contact_id = c.id AND channel = cv.channel
                   ORDER BY created_at LIMIT 1) ci ON true
"""


def mask_identity(external_id: str | None) -> str:
    """A channel identity people can tell apart without reading it: +***67, abc…89."""
    if not external_id:
        return ""
    masked = mask_pii(external_id)
    if masked != external_id or len(external_id) <= 6:
        return masked
    return f"{external_id[:3]}…{external_id[-2:]}"


def summary(row: dict[str, Any]) -> ConversationSummary:
    name = mask_pii(row["display_name"] or "")
    identity = mask_identity(row["external_id"])
    return ConversationSummary(
        id=row["id"], channel=row["channel"],
        contact=" ".join(p for p in (name, f"({identity})" if identity else "") if p) or "—",
        session_status=row["session_status"], handoff_status=row["handoff_status"],
        last_message_at=row["last_message_at"], last_direction=row["last_direction"],
        last_intent=row["last_intent"])


async def live_conversations(conn: Conn, since: datetime, until: datetime,
                             limit: int) -> list[ConversationSummary]:
    # Conversations with a message in the range (found through the created_at index),
    # so only those pay for the per-conversation lookups.
    cur = await conn.execute(
        _CONVERSATIONS + " WHERE cv.id IN (SELECT conversation_id FROM app.messages"
        " WHERE created_at >= %s AND created_at < %s)"
        " ORDER BY lm.created_at DESC LIMIT %s", (since, until, limit))
    return [summary(r) for r in await cur.fetchall()]


async def table_exists(conn: Conn, name: str) -> bool:
    """Tables added by later work (the agent's) are read only once they exist."""
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (name,))
    row = await cur.fetchone()
    return bool(row and row["present"])


async def transcript(conn: Conn, conversation_id: UUID, limit: int) -> Transcript | None:
    cur = await conn.execute(_CONVERSATIONS + " WHERE cv.id = %s", (conversation_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    cur = await conn.execute(
        "SELECT * FROM (SELECT m.id, m.direction, m.text, m.status, m.author, m.created_at,"
        " ic.intent, ic.confidence, ic.method FROM app.messages m"
        " LEFT JOIN LATERAL (SELECT intent, confidence, method FROM app.intent_classifications"
        "  WHERE message_id = m.id ORDER BY id DESC LIMIT 1) ic ON true"
        " WHERE m.conversation_id = %s ORDER BY m.id DESC LIMIT %s) t ORDER BY id",
        (conversation_id, limit))
    messages = [TranscriptMessage(**r) for r in await cur.fetchall()]
    tools: list[ToolCall] = []
    llm: list[LlmCall] = []
    if await table_exists(conn, "app.tool_calls"):
        cur = await conn.execute(
            "SELECT message_id, tool, status, attempts, latency_ms, created_at"
            " FROM app.tool_calls WHERE conversation_id = %s ORDER BY id", (conversation_id,))
        tools = [ToolCall(**r) for r in await cur.fetchall()]
    if await table_exists(conn, "app.llm_calls"):
        cur = await conn.execute(
            "SELECT message_id, model, input_tokens, output_tokens, cost_usd::float8 AS cost_usd,"
            " latency_ms, status, created_at FROM app.llm_calls WHERE conversation_id = %s"
            " ORDER BY id", (conversation_id,))
        llm = [LlmCall(**r) for r in await cur.fetchall()]
    return Transcript(conversation=summary(row), messages=messages, tool_calls=tools,
                      llm_calls=llm, cost_usd=round(sum(c.cost_usd for c in llm), 6))
