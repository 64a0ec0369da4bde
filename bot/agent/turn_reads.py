"""Everything the agent reads before a turn, sent to PostgreSQL together.

Today's spend and the user's tokens (the caps), the session's summary and unfolded
messages, what the bot remembers about the user and the session's tool-call count
are independent queries: sent as one unit (`Database.in_one_trip`) they cost one
round trip, instead of three units of two or three round trips each.

In a turn they cost none of their own: `AgentOpeningReads` adds them to the turn's
opening round trip (`bot.turn.opening`), keyed by the conversation, whose one open
session `app.open_turn` has just continued or started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from bot.agent import store
from bot.agent.costs import CapCheck, DailySpend, judge_caps, start_of_day
from bot.agent.history import SUMMARY_SQL, UNFOLDED_SQL, StoredHistory
from bot.agent.prompt import USER_CONTEXT_SQL, context_lines
from bot.db.conversations import SessionInfo
from bot.db.pool import Database, OneTripUnit, QueuedStatement
from bot.models import StoredInbound
from bot.routing.responder import ReadKey
from bot.settings.agent import AgentSettings


@dataclass(frozen=True)
class TurnReads:
    """The stored state an agent turn starts from."""

    caps: CapCheck
    history: StoredHistory
    user_context: str
    session_tool_calls: int


#: where the turn keeps these reads when its opening round trip made them
AGENT_READS: ReadKey[TurnReads] = ReadKey("agent")


# The open session's rows by conversation (sessions_one_open: at most one session per
# conversation is not closed). Params: conversation, this turn's message ids, how many.
UNFOLDED_BY_CONVERSATION_SQL = (
    "SELECT id, direction, text, payload FROM ("
    " SELECT m.id, m.direction, m.text, m.payload FROM app.sessions s"
    " JOIN app.messages m ON m.session_id = s.id"
    " WHERE s.conversation_id = %s AND s.status <> 'closed' AND NOT (m.id = ANY(%s))"
    " AND m.id > coalesce(s.summary_through, 0)"
    " ORDER BY m.id DESC LIMIT %s) recent ORDER BY id")
TOOL_CALLS_BY_CONVERSATION_SQL = (
    "SELECT count(*) AS n FROM app.sessions s JOIN app.tool_calls t ON t.session_id = s.id"
    " WHERE s.conversation_id = %s AND s.status <> 'closed'")


@dataclass(frozen=True)
class _Queued:
    cap: Decimal
    budget: int
    since: datetime
    spend: DailySpend | None
    known_cost: Decimal | None
    cost: QueuedStatement | None
    tokens: QueuedStatement | None
    remembered: QueuedStatement

    def cost_today(self) -> Decimal | None:
        if self.cap <= 0:
            return None
        if self.cost is None:
            return self.known_cost
        row = self.cost.one()
        cost = Decimal(row["cost"] or 0) if row is not None else Decimal(0)
        if self.spend is not None:
            self.spend.remember(self.since, cost)
        return cost

    def reads(self, summary: str, rows: QueuedStatement, used: QueuedStatement) -> TurnReads:
        tokens_row = self.tokens.one() if self.tokens is not None else None
        used_row = used.one()
        caps = judge_caps(self.cost_today(),
                          int(tokens_row["n"]) if tokens_row is not None else None,
                          cap=self.cap, budget=self.budget)
        return TurnReads(caps=caps, history=StoredHistory(summary, list(rows.rows)),
                         user_context=context_lines(self.remembered.rows),
                         session_tool_calls=int(used_row["n"]) if used_row else 0)


def _queue_user_reads(unit: OneTripUnit, settings: AgentSettings, contact_id: UUID,
                      spend: DailySpend | None) -> _Queued:
    """The caps (0 is off; today's spend only when `spend` has no recent reading) and the
    user's remembered context."""
    since = start_of_day()
    cap = Decimal(str(settings.llm_daily_cost_cap_usd))
    budget = settings.llm_user_daily_token_budget
    known = spend.known(since) if spend is not None and cap > 0 else None
    return _Queued(
        cap=cap, budget=budget, since=since, spend=spend, known_cost=known,
        cost=unit.add(store.COST_SINCE_SQL, (since,)) if cap > 0 and known is None else None,
        tokens=unit.add(store.USER_TOKENS_SQL, (contact_id, since)) if budget > 0 else None,
        remembered=unit.add(USER_CONTEXT_SQL,
                            (contact_id, settings.agent_user_context_max_items)))


async def read_turn_state(db: Database, settings: AgentSettings, *, contact_id: UUID,
                          session_id: UUID, current_ids: list[int],
                          spend: DailySpend | None = None) -> TurnReads:
    """One round trip for all of the agent's reads (a responder called on its own)."""
    async with db.in_one_trip(contact_id) as unit:
        queued = _queue_user_reads(unit, settings, contact_id, spend)
        summary = unit.add(SUMMARY_SQL, (session_id,))
        rows = unit.add(UNFOLDED_SQL, (session_id, current_ids, session_id,
                                       settings.agent_history_max_messages))
        used = unit.add(store.TOOL_CALLS_SQL, (session_id,))
    summary_row = summary.one()
    return queued.reads(str(summary_row["summary"] or "") if summary_row else "", rows, used)


class AgentOpeningReads:
    """The agent's reads in the turn's opening round trip (a `bot.turn.opening.OpeningReads`).

    Every turn of a bot with an agent pays these few indexed reads, also turns that end up
    on a direct route; an agent turn saves a round trip."""

    key = AGENT_READS

    def __init__(self, settings: AgentSettings, spend: DailySpend | None = None) -> None:
        self.settings = settings
        self.spend = spend

    def add_reads(self, unit: OneTripUnit,
                  batch: list[StoredInbound]) -> Callable[[SessionInfo], TurnReads]:
        last = batch[-1]
        queued = _queue_user_reads(unit, self.settings, last.contact_id, self.spend)
        rows = unit.add(UNFOLDED_BY_CONVERSATION_SQL, (
            last.conversation_id, [m.id for m in batch],
            self.settings.agent_history_max_messages))
        used = unit.add(TOOL_CALLS_BY_CONVERSATION_SQL, (last.conversation_id,))
        # the summary comes with the session from app.open_turn
        return lambda session: queued.reads(session.summary or "", rows, used)
