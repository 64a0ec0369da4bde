"""The day's LLM spend against its alert threshold, raised once per day and threshold.

`app.llm_calls` comes with the agent; until it exists the spend is zero. Several
worker processes may check at once: `app.hook_alerts` lets only the first raise it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.db.pool import Conn, Database
from bot.hooks.dispatcher import EventHooks
from bot.observability import Metrics
from bot.settings import Settings


def daily_cap_usd(settings: Settings) -> float:
    """LLM_DAILY_COST_CAP_USD (0: no cap)."""
    return float(settings.llm_daily_cost_cap_usd or 0.0)


def alert_threshold_usd(settings: Settings) -> float:
    return settings.hook_cost_alert_usd or daily_cap_usd(settings)


async def llm_cost_since(conn: Conn, since: datetime) -> float:
    cur = await conn.execute("SELECT to_regclass('app.llm_calls') IS NOT NULL AS present")
    row = await cur.fetchone()
    if row is None or not row["present"]:
        return 0.0
    cur = await conn.execute(
        "SELECT coalesce(sum(cost_usd), 0) AS usd FROM app.llm_calls WHERE created_at >= %s",
        (since,))
    row = await cur.fetchone()
    return float(row["usd"]) if row else 0.0


async def check_daily_cost(db: Database, settings: Settings, hooks: EventHooks,
                           metrics: Metrics, now: datetime | None = None) -> bool:
    """Update the spend gauge; emit `cost.threshold_crossed` the first time today. True if so."""
    now = now or datetime.now(UTC)
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    threshold = alert_threshold_usd(settings)
    async with db.as_system() as conn:
        spent = await llm_cost_since(conn, day)
        metrics.llm_cost_today.set(spent)
        if threshold <= 0 or spent < threshold:
            return False
        cur = await conn.execute(
            "INSERT INTO app.hook_alerts (key) VALUES (%s) ON CONFLICT DO NOTHING RETURNING key",
            (f"cost:{day.date().isoformat()}:{threshold:.2f}",))
        first = await cur.fetchone() is not None
    if first:
        hooks.emit("cost.threshold_crossed", day=day.date().isoformat(),
                   spent_usd=round(spent, 4), threshold_usd=threshold,
                   cap_usd=daily_cap_usd(settings) or None)
    return first
