"""Prices of model calls and the daily caps that keep spending bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, TypeAdapter

from bot.agent import store
from bot.agent.messages import Usage
from bot.db.pool import Database

LIMIT_REACHED_TEXT = (
    "I can't use the AI service right now because its usage limit for today has been reached. "
    "Please try again tomorrow, or write \"speak with a human\" to reach a person."
)
_MILLION = Decimal(1_000_000)


class ModelPrice(BaseModel):
    """USD per million tokens; cached input defaults to the input price."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None


class PriceTable:
    """LLM_PRICES: {"model": {"input": usd_per_mtok, "output": usd_per_mtok}}."""

    def __init__(self, prices: dict[str, ModelPrice]) -> None:
        self.prices = prices

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        return cls(TypeAdapter(dict[str, ModelPrice]).validate_python(json.loads(text or "{}")))

    def price_of(self, model: str) -> ModelPrice | None:
        """Exact model name, else the longest configured prefix (dated model versions)."""
        if model in self.prices:
            return self.prices[model]
        matches = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, usage: Usage) -> Decimal | None:
        price = self.price_of(model)
        if price is None:
            return None
        cached_price = price.cached_input if price.cached_input is not None else price.input
        return (Decimal(usage.input_tokens) * price.input
                + Decimal(usage.cached_input_tokens) * cached_price
                + Decimal(usage.output_tokens) * price.output) / _MILLION


def start_of_day(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class CapCheck:
    """Whether today's caps still allow an LLM turn, and which one stopped it."""

    allowed: bool
    scope: str | None = None


def judge_caps(cost_today: Decimal | None, user_tokens_today: int | None, *,
               cap: Decimal, budget: int) -> CapCheck:
    """Today's spend and the user's tokens against the caps (None: that cap is off)."""
    if cost_today is not None and cap > 0 and cost_today >= cap:
        return CapCheck(False, "daily_cost")
    if user_tokens_today is not None and budget > 0 and user_tokens_today >= budget:
        return CapCheck(False, "user_daily_tokens")
    return CapCheck(True)


class DailySpend:
    """Today's spend of all users together as last read, reused for `refresh_s` seconds.

    The daily cost cap sums today's `app.llm_calls`, a read that grows with the day's
    traffic (0.5 ms at 1,000 calls, 12.9 ms at 100,000); each process reads it at most
    once per `refresh_s` (0: on every turn), so the cap can be overshot by what is spent
    in that window."""

    def __init__(self, refresh_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh_s = refresh_s
        self.clock = clock
        self._day: datetime | None = None
        self._read_at = 0.0
        self._cost = Decimal(0)

    def known(self, since: datetime) -> Decimal | None:
        """The spend since `since` when it was read recently enough, else None."""
        if self._day != since or self.clock() - self._read_at >= self.refresh_s:
            return None
        return self._cost

    def remember(self, since: datetime, cost: Decimal) -> None:
        self._day, self._read_at, self._cost = since, self.clock(), cost


async def check_caps(db: Database, contact_id: UUID, *, daily_cost_cap_usd: float,
                     user_daily_token_budget: int,
                     spend: DailySpend | None = None) -> CapCheck:
    """The process-wide daily cost cap and the user's daily token budget (0 = no cap)."""
    since = start_of_day()
    cap, budget = Decimal(str(daily_cost_cap_usd)), user_daily_token_budget
    cost = spend.known(since) if spend is not None and cap > 0 else None
    async with db.as_user(contact_id, pipeline=True) as conn:
        if cap > 0 and cost is None:
            cost = await store.total_cost_since(conn, since)
            if spend is not None:
                spend.remember(since, cost)
        tokens = await store.user_tokens_since(conn, contact_id, since) if budget > 0 else None
    return judge_caps(cost, tokens, cap=cap, budget=budget)
