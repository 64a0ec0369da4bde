"""Everything the agent reads before a turn, sent to PostgreSQL together.

Today's spend and the user's tokens (the caps), the session's summary and unfolded
messages, what the bot remembers about the user and the session's tool-call count
are independent queries: sent as one unit (`Database.in_one_trip`) they cost one
round trip, instead of three units of two or three round trips each.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from bot.agent import store
from bot.agent.config import AgentSettings
from bot.agent.costs import CapCheck, judge_caps, start_of_day
from bot.agent.history import SUMMARY_SQL, UNFOLDED_SQL, StoredHistory
from bot.agent.prompt import USER_CONTEXT_SQL, context_lines
from bot.db.pool import Database


@dataclass(frozen=True)
class TurnReads:
    """The stored state an agent turn starts from."""

    caps: CapCheck
    history: StoredHistory
    user_context: str
    session_tool_calls: int


async def read_turn_state(db: Database, settings: AgentSettings, *, contact_id: UUID,
                          session_id: UUID, current_ids: list[int]) -> TurnReads:
    """One round trip for all of the agent's reads; caps of 0 are off."""
    since = start_of_day()
    cap = Decimal(str(settings.llm_daily_cost_cap_usd))
    budget = settings.llm_user_daily_token_budget
    async with db.in_one_trip(contact_id) as unit:
        cost = unit.add(store.COST_SINCE_SQL, (since,)) if cap > 0 else None
        tokens = unit.add(store.USER_TOKENS_SQL, (contact_id, since)) if budget > 0 else None
        summary = unit.add(SUMMARY_SQL, (session_id,))
        rows = unit.add(UNFOLDED_SQL, (session_id, current_ids, session_id,
                                       settings.agent_history_max_messages))
        remembered = unit.add(USER_CONTEXT_SQL,
                              (contact_id, settings.agent_user_context_max_items))
        used = unit.add(store.TOOL_CALLS_SQL, (session_id,))
    cost_row = cost.one() if cost is not None else None
    tokens_row = tokens.one() if tokens is not None else None
    summary_row = summary.one()
    history = StoredHistory(str(summary_row["summary"] or "") if summary_row else "",
                            list(rows.rows))
    user_context = context_lines(remembered.rows)
    used_row = used.one()
    caps = judge_caps(Decimal(cost_row["cost"] or 0) if cost_row is not None else None,
                      int(tokens_row["n"]) if tokens_row is not None else None,
                      cap=cap, budget=budget)
    return TurnReads(caps=caps, history=history, user_context=user_context,
                     session_tool_calls=int(used_row["n"]) if used_row else 0)
