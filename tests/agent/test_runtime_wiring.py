"""The runtime uses the agent when a provider is configured; the pipeline retries busy turns."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from bot.agent.errors import BUSY_TEXT
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.routing.router import Router
from bot.settings import Settings
from testing.classifiers import ScheduleIntent
from testing.llm_server import FakeLLM
from tests.agent.conftest import Agent
from tests.agent.tools_for_tests import TestTools
from tests.conftest import RuntimeFactory, wait_for
from tests.turn.test_pipeline import replies_of


async def test_without_a_provider_there_is_no_agent(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    async with runtime_factory(worker=False, settings=make_settings()) as rt:
        assert rt.agent is None


async def test_configured_provider_answers_through_the_pipeline(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings], fake_llm: FakeLLM,
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    fake_llm.reply("Hello from the model.")
    async with runtime_factory(settings=agent_settings("openai"),
                               classifier=ScheduleIntent()) as rt:
        assert rt.agent is not None
        r = await rt.ingest(inbound(text="hi"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered)
    (reply,) = await replies_of(db, r.contact_id, r.conversation_id)
    assert reply["text"] == "Hello from the model."


async def llm_call_rows(db: Database, contact_id: UUID, message_id: int) -> list[dict[str, object]]:
    """The turn's model-call rows, with the transaction that wrote each (xmin)."""
    async with db.as_user(contact_id) as conn:
        cur = await conn.execute(
            "SELECT status, input_tokens, xmin::text AS xact FROM app.llm_calls"
            " WHERE message_id = %s ORDER BY id", (message_id,))
        return list(await cur.fetchall())


async def test_model_calls_are_stored_in_the_transaction_that_stores_the_reply(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings], fake_llm: FakeLLM,
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    fake_llm.reply("Hello from the model.", input_tokens=120, output_tokens=8)
    async with runtime_factory(settings=agent_settings("openai"),
                               classifier=ScheduleIntent()) as rt:
        r = await rt.ingest(inbound(text="hi"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered)
    (call,) = await llm_call_rows(db, r.contact_id, r.message_id)
    assert call["status"] == "ok" and call["input_tokens"] == 120
    async with db.as_user(r.contact_id) as conn:
        cur = await conn.execute("SELECT xmin::text AS xact FROM app.intent_classifications"
                                 " WHERE message_id = %s", (r.message_id,))
        classified = await cur.fetchone()
    # written by the turn's final unit of work, not in a round trip of its own
    assert classified is not None and call["xact"] == classified["xact"]


async def test_busy_llm_turn_is_retried_by_the_queue_and_answered_once(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings], fake_llm: FakeLLM,
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    fake_llm.error(529, error_type="overloaded_error").reply("Back again.")
    settings = agent_settings(llm_retry_attempts=1, turn_max_attempts=3)
    async with runtime_factory(settings=settings, classifier=ScheduleIntent()) as rt:
        r = await rt.ingest(inbound(text="hi"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered, timeout=30)
    replies = await replies_of(db, r.contact_id, r.conversation_id)
    assert [x["text"] for x in replies] == ["Back again."]
    assert len(fake_llm.requests) == 2
    # the failed attempt's call is kept too (stored with the failure, not with a reply)
    calls = await llm_call_rows(db, r.contact_id, r.message_id)
    assert [c["status"] for c in calls] == ["error", "ok"]


async def test_busy_on_the_last_attempt_gives_the_busy_text(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings], fake_llm: FakeLLM,
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    fake_llm.error(500)
    settings = agent_settings(llm_retry_attempts=1, turn_max_attempts=1)
    async with runtime_factory(settings=settings, classifier=ScheduleIntent()) as rt:
        r = await rt.ingest(inbound(text="hi"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered, timeout=30)
    (reply,) = await replies_of(db, r.contact_id, r.conversation_id)
    assert reply["text"] == BUSY_TEXT


async def test_turn_rerun_after_a_busy_model_repeats_no_side_effect_and_answers_once(
    runtime_factory: RuntimeFactory, make_agent: Callable[..., Agent], fake_llm: FakeLLM,
    make_settings: Callable[..., Settings], inbound: Callable[..., InboundMessage],
    db: Database,
) -> None:
    tools = TestTools()
    agent = make_agent(tools=tools.registry, llm_retry_attempts=1)
    order = ("place_order", {"item": "lamp", "quantity": 1})
    fake_llm.tool_use(order).error(529, error_type="overloaded_error")  # fails after the effect
    fake_llm.tool_use(order).reply("Your lamp is ordered.")  # the queue's second attempt
    settings = make_settings(turn_max_attempts=3)
    async with runtime_factory(settings=settings, router=Router(agent.responder())) as rt:
        r = await rt.ingest(inbound(text="order a lamp"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered, timeout=30)
    assert [x["text"] for x in await replies_of(db, r.contact_id, r.conversation_id)] == [
        "Your lamp is ordered."]
    assert len(tools.orders) == 1
    assert "Order placed" in str(fake_llm.requests[-1]["messages"])  # replayed result
