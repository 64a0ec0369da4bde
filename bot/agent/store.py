"""The agent's reads and writes: tool calls, LLM calls and usage, inside units of work."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from bot.db.pool import Conn


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call as stored in app.tool_calls."""

    contact_id: UUID
    conversation_id: UUID
    session_id: UUID
    message_id: int
    tool: str
    arguments: dict[str, Any]
    side_effects: bool
    idempotency_key: str
    status: str
    result: str | None
    error: str | None
    attempts: int
    latency_ms: float


@dataclass(frozen=True)
class LLMCallRecord:
    """One model call as stored in app.llm_calls."""

    contact_id: UUID
    conversation_id: UUID | None
    session_id: UUID | None
    message_id: int | None
    purpose: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    usage_reported: bool
    cost_usd: Decimal
    latency_ms: float
    status: str
    error: str | None = None


async def stored_tool_result(conn: Conn, key: str) -> str | None:
    """The result of a side effect already done under `key`, if any."""
    cur = await conn.execute(
        "SELECT result FROM app.tool_calls WHERE idempotency_key = %s AND status = 'ok'"
        " AND side_effects LIMIT 1", (key,))
    row = await cur.fetchone()
    return None if row is None else str(row["result"] or "")


async def record_tool_call(conn: Conn, r: ToolCallRecord) -> None:
    await conn.execute(
        "INSERT INTO app.tool_calls (contact_id, conversation_id, session_id, message_id, tool,"
        " arguments, side_effects, idempotency_key, status, result, error, attempts, latency_ms)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s)",
        (r.contact_id, r.conversation_id, r.session_id, r.message_id, r.tool,
         json.dumps(r.arguments, default=str), r.side_effects, r.idempotency_key, r.status,
         r.result, (r.error or "")[:500] or None, r.attempts, r.latency_ms))


TOOL_CALLS_SQL = "SELECT count(*) AS n FROM app.tool_calls WHERE session_id = %s"
USER_TOKENS_SQL = ("SELECT coalesce(sum(input_tokens + output_tokens), 0) AS n FROM app.llm_calls"
                   " WHERE contact_id = %s AND created_at >= %s")
COST_SINCE_SQL = "SELECT app.llm_cost_since(%s) AS cost"


async def record_llm_call(conn: Conn, r: LLMCallRecord) -> None:
    await conn.execute(
        "INSERT INTO app.llm_calls (contact_id, conversation_id, session_id, message_id, purpose,"
        " provider, model, input_tokens, output_tokens, cached_input_tokens, usage_reported,"
        " cost_usd, latency_ms, status, error)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (r.contact_id, r.conversation_id, r.session_id, r.message_id, r.purpose, r.provider,
         r.model, r.input_tokens, r.output_tokens, r.cached_input_tokens, r.usage_reported,
         r.cost_usd, r.latency_ms, r.status, (r.error or "")[:500] or None))


async def user_tokens_since(conn: Conn, contact_id: UUID, since: datetime) -> int:
    cur = await conn.execute(USER_TOKENS_SQL, (contact_id, since))
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def total_cost_since(conn: Conn, since: datetime) -> Decimal:
    cur = await conn.execute(COST_SINCE_SQL, (since,))
    row = await cur.fetchone()
    return Decimal(row["cost"]) if row else Decimal(0)
