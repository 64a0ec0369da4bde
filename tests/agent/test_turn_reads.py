"""The agent's turn reads: sent with the turn's opening round trip, equal to reading them apart."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from bot.agent import store
from bot.agent.turn_reads import AGENT_READS, AgentOpeningReads, TurnReads, read_turn_state
from bot.channels import Channels
from bot.db import messages
from bot.db.pool import Database
from bot.models import InboundMessage, OutboundReply
from bot.outbound.events import EventHub
from bot.runtime import Runtime
from bot.settings import Settings
from bot.turn.opening import TurnOpening
from bot.turn.unit import TurnUnit
from testing.classifiers import ScheduleIntent
from testing.llm_server import FakeLLM
from tests.agent.conftest import Conversation
from tests.conftest import RuntimeFactory

# Measured for this turn (web chat, one streamed model call, no tools): 10 while the
# model call's record had a transaction of its own and the agent read its state in a
# trip of its own; 8 since; 5 since the reply's transaction claims it for delivery and
# the progress events ride on the turn's units (the one left of its own is the streamed
# text's NOTIFY); raise it only with a reason.
MAX_ROUND_TRIPS_AGENT_TURN = 5


async def test_prefetched_reads_equal_the_reads_of_a_responder_called_on_its_own(
    db: Database, conversation: Callable[[], Conversation],
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(llm_daily_cost_cap_usd=1e9, llm_user_daily_token_budget=10_000)
    conv = conversation()
    for i in range(3):
        turn = await conv.turn(f"question {i}")
        await conv.answer(turn, OutboundReply(text=f"answer {i}"))
    async with db.as_user(turn.contact_id) as conn:
        await conn.execute(  # the first question is folded into the summary
            "UPDATE app.sessions SET summary = 'asked once', summary_through ="
            " (SELECT min(id) FROM app.messages WHERE session_id = %s) WHERE id = %s",
            (turn.session.id, turn.session.id))
        await conn.execute("INSERT INTO app.user_context (contact_id, key, value, kind)"
                           " VALUES (%s, 'city', %s, 'fact')",
                           (turn.contact_id, json.dumps("Lisbon")))
        await store.record_tool_call(conn, store.ToolCallRecord(
            turn.contact_id, turn.conversation_id, turn.session.id, turn.message_ids[-1],
            "lookup", {}, False, "k-1", "ok", "found", None, 1, 3.0))
        await store.record_llm_call(conn, store.LLMCallRecord(
            turn.contact_id, turn.conversation_id, turn.session.id, turn.message_ids[-1],
            "answer", "openai", "m", 300, 40, 0, True, Decimal("0.01"), 5.0, "ok"))
    await conv.turn("one more")
    batch = conv.last_batch

    opening = TurnOpening(db, Channels({}), EventHub(db), inactivity=timedelta(hours=7),
                          history_max=20, reads=[AgentOpeningReads(settings)])
    opened = await opening.open(batch, TurnUnit(db, batch[-1].contact_id))
    assert opened is not None
    alone = await read_turn_state(db, settings, contact_id=batch[-1].contact_id,
                                  session_id=opened.session.id,
                                  current_ids=[m.id for m in batch])

    prefetched = opened.reads.get(AGENT_READS)
    assert isinstance(prefetched, TurnReads)
    assert prefetched == alone
    assert alone.history.summary == "asked once" and alone.session_tool_calls == 1
    assert [r["text"] for r in alone.history.rows] == [
        "answer 0", "question 1", "answer 1", "question 2", "answer 2"]
    assert "Lisbon" in alone.user_context and alone.caps.allowed


async def test_an_agent_turn_stays_within_its_round_trips(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings], fake_llm: FakeLLM,
    inbound: Callable[..., InboundMessage],
) -> None:
    fake_llm.reply("Hello from the model.").reply("Again, hello.")
    async with runtime_factory(worker=False, settings=agent_settings("openai"),
                               classifier=ScheduleIntent()) as rt:
        warm = await rt.ingest(inbound(text="hello"))
        await rt.pipeline.drain(warm.conversation_id, warm.contact_id)  # sessions, caches
        stored = await rt.ingest(inbound(text="hi there"))
        before = _round_trips(rt)
        outcome = await rt.pipeline.drain(stored.conversation_id, stored.contact_id)
        trips = _round_trips(rt) - before
        replies = await messages.read_unanswered(rt.db, stored.contact_id,
                                                 stored.conversation_id)
    assert outcome.turns == 1 and replies == []
    assert len(fake_llm.requests) == 2
    assert 0 < trips <= MAX_ROUND_TRIPS_AGENT_TURN


def _round_trips(rt: Runtime) -> float:
    return rt.metrics.registry.get_sample_value("bot_db_round_trips_total") or 0.0
