"""Today's spend for the daily cost cap: read at most once per refresh window per process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.agent import store
from bot.agent.costs import DailySpend, start_of_day
from bot.agent.turn_reads import read_turn_state
from bot.db.pool import Database
from bot.routing.responder import TurnContext
from bot.settings import Settings
from tests.agent.conftest import Conversation


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def conv_turn(conversation: Callable[[], Conversation]) -> TurnContext:
    return await conversation().turn("how much?")


async def cap_just_above_todays_spend(db: Database, turn: TurnContext,
                                      make_settings: Callable[..., Settings]) -> Settings:
    """Other tests' calls count too: the cap is for all users together."""
    async with db.as_user(turn.contact_id) as conn:
        spent = await store.total_cost_since(conn, start_of_day())
    return make_settings(llm_daily_cost_cap_usd=float(spent) + 1, llm_user_daily_token_budget=0)


async def spend_on(db: Database, turn: TurnContext, usd: str) -> None:
    async with db.as_user(turn.contact_id) as conn:
        await store.record_llm_call(conn, store.LLMCallRecord(
            turn.contact_id, turn.conversation_id, turn.session.id, turn.message_ids[-1],
            "answer", "openai", "m", 10, 10, 0, True, Decimal(usd), 5.0, "ok"))


async def test_the_days_spend_is_read_again_only_after_the_refresh_window(
    db: Database, conversation: Callable[[], Conversation],
    make_settings: Callable[..., Settings],
) -> None:
    clock = Clock()
    spend = DailySpend(60, clock=clock)
    turn = await conv_turn(conversation)
    settings = await cap_just_above_todays_spend(db, turn, make_settings)

    async def caps_scope() -> str | None:
        reads = await read_turn_state(db, settings, contact_id=turn.contact_id,
                                      session_id=turn.session.id,
                                      current_ids=turn.message_ids, spend=spend)
        return reads.caps.scope

    assert await caps_scope() is None
    await spend_on(db, turn, "5")  # far past the cap
    clock.now += 59
    assert await caps_scope() is None  # the reading from 59 s ago still stands
    clock.now += 1
    assert await caps_scope() == "daily_cost"


async def test_with_no_refresh_window_every_turn_reads_the_spend(
    db: Database, conversation: Callable[[], Conversation],
    make_settings: Callable[..., Settings],
) -> None:
    spend = DailySpend(0, clock=Clock())
    turn = await conv_turn(conversation)
    settings = await cap_just_above_todays_spend(db, turn, make_settings)
    first = await read_turn_state(db, settings, contact_id=turn.contact_id,
                                  session_id=turn.session.id, current_ids=turn.message_ids,
                                  spend=spend)
    await spend_on(db, turn, "5")
    second = await read_turn_state(db, settings, contact_id=turn.contact_id,
                                   session_id=turn.session.id, current_ids=turn.message_ids,
                                   spend=spend)
    assert first.caps.allowed and second.caps.scope == "daily_cost"


def test_a_new_day_is_never_answered_from_yesterdays_reading() -> None:
    spend = DailySpend(3600, clock=Clock())
    today = start_of_day(datetime(2026, 11, 22, 23, 59, tzinfo=UTC))
    spend.remember(today, Decimal("49"))
    assert spend.known(today) == Decimal("49")
    assert spend.known(today + timedelta(days=1)) is None
