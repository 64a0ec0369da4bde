"""Row-level security of the agent's tables: a user reaches only their own calls."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest

from bot.agent import store
from bot.db.pool import Database
from bot.routing.responder import TurnContext
from tests.agent.conftest import Conversation


async def seed_calls(conv: Conversation) -> tuple[TurnContext, int]:
    turn = await conv.turn("hi")
    message_id = turn.message_ids[-1]
    async with conv.db.as_user(turn.contact_id) as conn:
        await store.record_llm_call(conn, store.LLMCallRecord(
            contact_id=turn.contact_id, conversation_id=turn.conversation_id,
            session_id=turn.session.id, message_id=message_id, purpose="answer",
            provider="anthropic", model="m", input_tokens=10, output_tokens=5,
            cached_input_tokens=0, usage_reported=True, cost_usd=Decimal("0.5"),
            latency_ms=1, status="ok"))
        await store.record_tool_call(conn, store.ToolCallRecord(
            contact_id=turn.contact_id, conversation_id=turn.conversation_id,
            session_id=turn.session.id, message_id=message_id, tool="t", arguments={},
            side_effects=True, idempotency_key=f"k-{message_id}", status="ok", result="r",
            error=None, attempts=1, latency_ms=1))
    return turn, message_id


@pytest.mark.parametrize("table", ["llm_calls", "tool_calls"])
async def test_users_see_only_their_own_calls_and_cannot_delete(
    conversation: Callable[[], Conversation], db: Database, table: str,
) -> None:
    alice, bob = conversation(), conversation()
    a_turn, _ = await seed_calls(alice)
    b_turn, _ = await seed_calls(bob)
    async with db.as_user(a_turn.contact_id) as conn:
        cur = await conn.execute(f"SELECT contact_id FROM app.{table}")
        assert {r["contact_id"] for r in await cur.fetchall()} == {a_turn.contact_id}
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a_turn.contact_id) as conn:
            await conn.execute(f"DELETE FROM app.{table}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # RLS WITH CHECK
        async with db.as_user(a_turn.contact_id) as conn:
            await conn.execute(
                "INSERT INTO app.llm_calls (contact_id, provider, model, status)"
                " VALUES (%s, 'x', 'y', 'ok')", (b_turn.contact_id,))


async def test_usage_views_are_for_operators_and_the_cap_sees_only_a_total(
    conversation: Callable[[], Conversation], db: Database,
) -> None:
    a_turn, _ = await seed_calls(conversation())
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a_turn.contact_id) as conn:
            await conn.execute("SELECT * FROM app.llm_usage_daily")
    async with db.as_user(a_turn.contact_id) as conn:
        cur = await conn.execute("SELECT app.llm_cost_since(now() - interval '1 hour') AS c")
        row = await cur.fetchone()
    assert row is not None and row["c"] >= Decimal("0.5")
