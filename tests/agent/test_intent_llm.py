"""The classifier's LLM fallback on the agent's provider, through the web chat API.

The bot's local model is never sure (tests/fixtures/unsure_bot.yaml), so every typed
message reaches the fallback: the real SDK talks to the fake provider on loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.db.pool import Database
from bot.settings import Settings
from testing.llm_server import FakeLLM
from tests.chat_api import ChatClient, chat_http, option_titles
from tests.conftest import RuntimeFactory

ROOT = Path(__file__).resolve().parents[2]
UNSURE_BOT = ROOT / "tests/fixtures/unsure_bot.yaml"
AMBIGUOUS = "yoga classes and booking"  # the local model: book_class 0.6, class_schedule 0.4


async def classification_of(db: Database, message_id: int | None) -> dict[str, Any]:
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT intent, method, confidence, alternatives, latency_ms"
            " FROM app.intent_classifications WHERE message_id = %s", (message_id,))
        row = await cur.fetchone()
    assert row is not None
    return row


async def intent_llm_calls(db: Database, message_id: int | None) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT status, purpose, input_tokens FROM app.llm_calls WHERE message_id = %s"
            " ORDER BY id", (message_id,))
        return list(await cur.fetchall())


async def test_unsure_message_takes_the_llms_choice_among_the_intent_names(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings],
    fake_llm: FakeLLM, db: Database,
) -> None:
    fake_llm.tool_use(("choose_intent", {"intent": "class_schedule"}))
    settings = agent_settings(bot_definition=UNSURE_BOT)
    async with runtime_factory(settings=settings) as rt, chat_http(rt) as http:
        chat = ChatClient(http)
        reply = await chat.say(AMBIGUOUS)
    assert reply["text"].startswith("Here's what I can help with")  # class_schedule's route
    row = await classification_of(db, chat.message_id)
    assert (row["intent"], row["method"]) == ("class_schedule", "llm")
    assert [a["intent"] for a in row["alternatives"]][:2] == ["book_class", "class_schedule"]
    assert row["latency_ms"] > 0
    [request] = fake_llm.requests
    assert request["tool_choice"] == {"type": "tool", "name": "choose_intent"}
    [tool] = request["tools"]
    enum = tool["input_schema"]["properties"]["intent"]["enum"]
    assert {"class_schedule", "book_class", "out_of_scope", "human_handoff"} <= set(enum)
    assert request["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": AMBIGUOUS}]}]
    assert request["model"] == settings.anthropic_model_fast
    assert await intent_llm_calls(db, chat.message_id) == [
        {"status": "ok", "purpose": "intent", "input_tokens": 11}]


async def test_openai_compatible_provider_is_forced_to_the_intent_function(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings],
    fake_llm: FakeLLM, db: Database,
) -> None:
    fake_llm.tool_use(("choose_intent", {"intent": "book_class"}))
    settings = agent_settings("openai", bot_definition=UNSURE_BOT)
    async with runtime_factory(settings=settings) as rt, chat_http(rt) as http:
        chat = ChatClient(http)
        await chat.say(AMBIGUOUS)
    row = await classification_of(db, chat.message_id)
    assert (row["intent"], row["method"]) == ("book_class", "llm")
    assert fake_llm.requests[0]["tool_choice"] == {
        "type": "function", "function": {"name": "choose_intent"}}


async def test_failing_llm_falls_back_to_did_you_mean(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings],
    fake_llm: FakeLLM, db: Database,
) -> None:
    fake_llm.error(500).error(500)
    settings = agent_settings(bot_definition=UNSURE_BOT, llm_retry_attempts=2,
                              llm_retry_initial_s=0.0)
    async with runtime_factory(settings=settings) as rt, chat_http(rt) as http:
        chat = ChatClient(http)
        reply = await chat.say(AMBIGUOUS)
    assert reply["text"] == "I'm not sure I understood. Did you mean:"
    assert option_titles(reply)[:2] == ["Book a class", "Class schedule"]
    assert option_titles(reply)[-1] == "Something else"
    row = await classification_of(db, chat.message_id)
    assert (row["intent"], row["method"]) == ("clarify", "clarified")
    assert len(fake_llm.requests) == 2  # the caller's retries, then the fallback
    assert [c["status"] for c in await intent_llm_calls(db, chat.message_id)] == [
        "error", "error"]


async def test_answer_outside_the_names_is_not_taken(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings],
    fake_llm: FakeLLM, db: Database,
) -> None:
    fake_llm.reply("I think they want to book something.")  # no tool call
    async with runtime_factory(settings=agent_settings(bot_definition=UNSURE_BOT)) as rt, \
            chat_http(rt) as http:
        chat = ChatClient(http)
        await chat.say(AMBIGUOUS)
    assert (await classification_of(db, chat.message_id))["method"] == "clarified"


async def test_without_an_llm_unsure_messages_get_did_you_mean(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    fake_llm: FakeLLM, db: Database,
) -> None:
    async with runtime_factory(settings=make_settings(bot_definition=UNSURE_BOT)) as rt, \
            chat_http(rt) as http:
        assert rt.agent is None
        chat = ChatClient(http)
        reply = await chat.say(AMBIGUOUS)
    assert option_titles(reply)[:2] == ["Book a class", "Class schedule"]
    assert option_titles(reply)[-1] == "Something else"
    row = await classification_of(db, chat.message_id)
    assert (row["intent"], row["method"]) == ("clarify", "clarified")
    assert row["alternatives"][0]["intent"] == "book_class" and row["latency_ms"] > 0
    assert fake_llm.requests == []
