"""The daily LLM spend alert: raised once when the day's spend crosses the threshold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot.db.pool import Database
from bot.hooks import EventHooks
from bot.hooks.cost import check_daily_cost, llm_cost_since
from bot.observability import Metrics
from bot.settings import Settings
from tests.agent_tables import agent_tables  # noqa: F401 (fixture)


class Captured(EventHooks):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, Metrics(), [])
        self.seen: list[tuple[str, dict[str, object]]] = []

    def emit(self, event, **data):  # type: ignore[no-untyped-def, override]
        self.seen.append((event, data))


async def test_no_llm_table_means_no_spend(db: Database) -> None:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT to_regclass('app.llm_calls') IS NULL AS absent")
        row = await cur.fetchone()
        if not (row and row["absent"]):
            pytest.skip("app.llm_calls exists in this database")
        assert await llm_cost_since(conn, datetime(2000, 1, 1, tzinfo=UTC)) == 0.0


@pytest.mark.usefixtures("agent_tables")
async def test_crossing_the_threshold_is_raised_once_a_day(
    db: Database, make_settings: Callable[..., Settings],
) -> None:
    now = datetime.now(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    async with db.as_system() as conn:
        before = await llm_cost_since(conn, day)
    settings = make_settings(hook_cost_alert_usd=round(before + 0.75, 2))
    hooks = Captured(settings)
    metrics = Metrics()
    assert not await check_daily_cost(db, settings, hooks, metrics, now)
    async with db.as_system() as conn:
        cur = await conn.execute("INSERT INTO app.contacts DEFAULT VALUES RETURNING id")
        contact = (await cur.fetchone() or {})["id"]
        await conn.execute(
            "INSERT INTO app.llm_calls (contact_id, provider, model, cost_usd, status)"
            " VALUES (%s, 'anthropic', 'claude-haiku-4-5', 1.0, 'ok')", (contact,))
    assert await check_daily_cost(db, settings, hooks, metrics, now)
    assert not await check_daily_cost(db, settings, hooks, metrics, now)  # once
    [(event, data)] = hooks.seen
    assert event == "cost.threshold_crossed"
    assert data["threshold_usd"] == settings.hook_cost_alert_usd
    # the event carries the spend rounded to 4 decimals; other tests' calls cost fractions
    assert float(str(data["spent_usd"])) >= before + 1.0 - 1e-4
    assert metrics.llm_cost_today._value.get() >= before + 1.0 - 1e-6
