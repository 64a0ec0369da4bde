"""The agent's `app.tool_calls` / `app.llm_calls` for tests of code that reads them.

When the agent's migration has created them they are used as they are; otherwise a
stand-in with the columns read here is created for the test and dropped after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from testing.database import as_owner

_STAND_INS = {
    "tool_calls": (
        "CREATE TABLE app.tool_calls (id bigint GENERATED ALWAYS AS IDENTITY,"
        " contact_id uuid NOT NULL, conversation_id uuid NOT NULL, message_id bigint NOT NULL,"
        " tool text NOT NULL, arguments jsonb NOT NULL DEFAULT '{}', side_effects boolean"
        " NOT NULL, idempotency_key text NOT NULL, status text NOT NULL, attempts integer"
        " NOT NULL DEFAULT 1, latency_ms real NOT NULL DEFAULT 0,"
        " created_at timestamptz NOT NULL DEFAULT clock_timestamp())"),
    "llm_calls": (
        "CREATE TABLE app.llm_calls (id bigint GENERATED ALWAYS AS IDENTITY,"
        " contact_id uuid NOT NULL, conversation_id uuid, message_id bigint,"
        " provider text NOT NULL, model text NOT NULL, input_tokens integer NOT NULL DEFAULT 0,"
        " output_tokens integer NOT NULL DEFAULT 0, cost_usd numeric(14, 8) NOT NULL DEFAULT 0,"
        " latency_ms real NOT NULL DEFAULT 0, status text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT clock_timestamp())"),
}


@pytest.fixture
async def agent_tables(db_url: str) -> AsyncIterator[None]:
    created = []
    async with as_owner(db_url) as conn:
        for name, ddl in _STAND_INS.items():
            cur = await conn.execute("SELECT to_regclass(%s) IS NULL AS absent", (f"app.{name}",))
            row = await cur.fetchone()
            if row and row["absent"]:
                await conn.execute(ddl)
                created.append(name)
    yield
    async with as_owner(db_url) as conn:
        for name in created:
            await conn.execute(f"DROP TABLE app.{name}")
