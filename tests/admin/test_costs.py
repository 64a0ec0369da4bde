"""Tool calls and LLM costs in transcripts and the cost chart, read from the agent's tables."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.db.pool import Database
from bot.hooks.cost import daily_cap_usd
from bot.models import InboundMessage
from tests.admin.conftest import AdminRuntime, log_in
from tests.agent_tables import agent_tables  # noqa: F401 (fixture)
from tests.conftest import wait_for


@pytest.mark.usefixtures("agent_tables")
async def test_transcript_lists_tool_and_llm_calls_and_the_chart_sums_cost_per_day(
    admin_runtime: AdminRuntime, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    async with admin_runtime() as (rt, app):
        r = await rt.ingest(inbound(text="hello"))

        async def answered() -> bool:
            async with db.as_system() as conn:
                cur = await conn.execute("SELECT 1 FROM app.messages WHERE conversation_id = %s"
                                         " AND direction = 'out'", (r.conversation_id,))
                return await cur.fetchone() is not None
        await wait_for(answered)
        async with db.as_system() as conn:
            cur = await conn.execute(
                "SELECT coalesce(sum(cost_usd), 0)::float8 AS usd FROM app.llm_calls"
                " WHERE created_at >= date_trunc('day', now())")
            before = float((await cur.fetchone() or {"usd": 0})["usd"])
            await conn.execute(
                "INSERT INTO app.tool_calls (contact_id, conversation_id, message_id, tool,"
                " side_effects, idempotency_key, status, attempts, latency_ms)"
                " VALUES (%s, %s, %s, 'class_schedule', false, 'k-1', 'ok', 1, 42)",
                (r.contact_id, r.conversation_id, r.message_id))
            for model, cost in (("claude-haiku-4-5", 0.0125), ("claude-sonnet-4-5", 0.25)):
                await conn.execute(
                    "INSERT INTO app.llm_calls (contact_id, conversation_id, message_id,"
                    " provider, model, input_tokens, output_tokens, cost_usd, latency_ms,"
                    " status) VALUES (%s, %s, %s, 'anthropic', %s, 1200, 80, %s, 900, 'ok')",
                    (r.contact_id, r.conversation_id, r.message_id, model, cost))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bot.test") as client:
            await log_in(client, staff="cost watcher")
            t = (await client.get(f"/admin/api/conversations/{r.conversation_id}")).json()
            costs = (await client.get("/admin/api/stats/costs?range=24h")).json()
    assert [(c["tool"], c["status"], c["latency_ms"]) for c in t["tool_calls"]] == [
        ("class_schedule", "ok", 42.0)]
    assert [c["model"] for c in t["llm_calls"]] == ["claude-haiku-4-5", "claude-sonnet-4-5"]
    assert t["cost_usd"] == 0.2625
    assert costs["series"][0]["values"][-1] >= before + 0.2625 - 1e-9
    assert costs["limit"] == (daily_cap_usd(rt.settings) or None)
