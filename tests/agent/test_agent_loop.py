"""The agent answering real turns: tools over several steps, errors back to the model,
breakers, limits, idempotent side effects, cost rows, and safe user texts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest

from bot.agent.errors import BUSY_TEXT, AgentBusyError
from bot.agent.tools import ToolContext, ToolRegistry, ToolTransientError
from testing.llm_server import FakeLLM
from tests.agent.conftest import Agent, Conversation, Events
from tests.agent.tools_for_tests import CityInput, TestTools

INTERNALS = ("Traceback", "Error", "hunter2", "10.0.0.1", "status", "429", "500", "401",
             "toolu_", "call_")


def assert_safe(text: str) -> None:
    assert not any(marker in text for marker in INTERNALS), text


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_plain_answer_records_tokens_and_cost_from_the_response(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
    provider: str,
) -> None:
    agent = make_agent(provider, llm_prices='{"claude-haiku-4-5": {"input": 1, "output": 5},'
                                            ' "gpt-4o-mini": {"input": 1, "output": 5}}')
    fake_llm.reply("Hi! How can I help?", input_tokens=1000, output_tokens=200)
    conv = conversation()
    turn = await conv.turn("hello")
    reply = await agent.responder().respond(turn, Events())
    assert reply.text == "Hi! How can I help?"
    (row,) = await conv.rows(turn, "SELECT * FROM app.llm_calls WHERE message_id = %s",
                             turn.message_ids[-1])
    assert (row["input_tokens"], row["output_tokens"], row["status"]) == (1000, 200, "ok")
    assert row["cost_usd"] == Decimal("0.002")  # 1000 * 1/1e6 + 200 * 5/1e6
    async with conv.db.as_system() as conn:  # the aggregates are for operators
        cur = await conn.execute("SELECT * FROM app.llm_usage_by_turn WHERE message_id = %s",
                                 (turn.message_ids[-1],))
        per_turn = await cur.fetchone()
        cur = await conn.execute("SELECT sum(cost_usd) AS cost FROM app.llm_usage_daily"
                                 " WHERE contact_id = %s", (turn.contact_id,))
        daily = await cur.fetchone()
    assert per_turn is not None and per_turn["input_tokens"] == 1000 and per_turn["calls"] == 1
    assert daily is not None and daily["cost"] == Decimal("0.002")
    system = fake_llm.requests[0].get("system") or fake_llm.requests[0]["messages"][0]["content"]
    assert agent.services.canary in system


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_tools_over_several_iterations_with_streamed_events(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
    provider: str,
) -> None:
    tools = TestTools()
    agent = make_agent(provider, tools=tools.registry, llm_stream=True)
    fake_llm.tool_use(("weather", {"city": "Oslo"}), text="Let me check.")
    fake_llm.tool_use(("weather", {"city": "Rome"}))
    fake_llm.reply("Sunny in both Oslo and Rome.")
    events = Events()
    conv = conversation()
    turn = await conv.turn("weather in Oslo and Rome?")
    reply = await agent.responder(tools=("weather",)).respond(turn, events)
    assert reply.text == "Sunny in both Oslo and Rome."
    assert tools.weather_calls == ["Oslo", "Rome"]
    assert events.names().count("tool_call_start") == 2
    assert events.names().count("tool_call_end") == 2
    assert "text_delta" in events.names()
    streamed = "".join(d["text"] for n, d in events.items if n == "text_delta")
    assert streamed.endswith("Sunny in both Oslo and Rome.")
    assert [t["name"] for t in _tools_seen(fake_llm.requests[0])] == ["weather"]
    rows = await conv.rows(turn, "SELECT tool, status FROM app.tool_calls WHERE message_id = %s"
                                 " ORDER BY id", turn.message_ids[-1])
    assert rows == [{"tool": "weather", "status": "ok"}] * 2
    assert len(await conv.rows(turn, "SELECT id FROM app.llm_calls WHERE message_id = %s",
                               turn.message_ids[-1])) == 3


def _tools_seen(request: dict[str, object]) -> list[dict[str, str]]:
    tools = request.get("tools") or []
    assert isinstance(tools, list)
    return [t.get("function", t) for t in tools]


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_malformed_arguments_go_back_to_the_model_as_an_error(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
    provider: str,
) -> None:
    tools = TestTools()
    agent = make_agent(provider, tools=tools.registry)
    fake_llm.tool_use(("weather", {"town": 5}))
    fake_llm.tool_use(("weather", "{not json" if provider == "openai" else {"city": "X"}))
    fake_llm.reply("Which city do you mean?")
    conv = conversation()
    reply = await agent.responder().respond(await conv.turn("weather?"), Events())
    assert reply.text == "Which city do you mean?"
    assert tools.weather_calls == []
    second = str(fake_llm.requests[1]["messages"])
    assert "Invalid arguments" in second and "city" in second
    if provider == "anthropic":
        assert "'is_error': True" in second
    third = str(fake_llm.requests[2]["messages"])
    assert "Invalid arguments" in third


async def test_failing_tool_opens_its_breaker_then_closes_after_the_cool_down(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    agent = make_agent(tools=tools.registry, tool_retry_attempts=1, tool_breaker_failures=3,
                       tool_breaker_cooldown_s=0.3, agent_repeat_call_limit=10,
                       agent_read_only_streak_limit=10)
    conv = conversation()
    for city in ("Oslo", "Rome", "Bern", "Kyiv"):
        fake_llm.tool_use(("stock", {"city": city}))
    fake_llm.reply("Sorry, stock is unavailable.")
    reply = await agent.responder().respond(await conv.turn("stock?"), Events())
    assert tools.backend_calls == 3  # the fourth call was skipped by the open breaker
    assert "temporarily unavailable" in str(fake_llm.requests[4]["messages"][-1])
    assert "I couldn't get data from the stock system, please try again." in reply.text
    assert_safe(reply.text)
    assert agent.metric("bot_tool_breaker_open_total", tool="stock") == 1

    await asyncio.sleep(0.4)  # the cool-down passes; the next call is let through
    tools.fail_backend = False
    fake_llm.tool_use(("stock", {"city": "Oslo"}))
    fake_llm.reply("12 in stock.")
    reply = await agent.responder().respond(await conv.turn("and now?"), Events())
    assert reply.text == "12 in stock." and tools.backend_calls == 4


async def test_read_only_tool_is_retried_on_a_transient_error(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    registry, calls = ToolRegistry(), []

    @registry.tool(side_effects=False)
    async def flaky(args: CityInput, ctx: ToolContext) -> str:
        calls.append(args.city)
        if len(calls) == 1:
            raise ToolTransientError("blip")
        return "fine"

    agent = make_agent(tools=registry, tool_retry_attempts=2)
    fake_llm.tool_use(("flaky", {"city": "Oslo"})).reply("All fine.")
    reply = await agent.responder().respond(await conversation().turn("?"), Events())
    assert reply.text == "All fine." and calls == ["Oslo", "Oslo"]


async def test_iteration_limit_ends_the_loop_with_a_wrap_up_answer_and_a_note(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    agent = make_agent(tools=tools.registry)
    fake_llm.tool_use(("weather", {"city": "Oslo"}), text="Checking Oslo first.")
    fake_llm.tool_use(("weather", {"city": "Rome"}))
    fake_llm.tool_use(("weather", {"city": "Bern"}), text="Oslo and Rome are sunny.")
    reply = await agent.responder(max_iterations=2).respond(await conversation().turn("?"),
                                                            Events())
    assert reply.text.startswith("Oslo and Rome are sunny.")
    assert "couldn't finish everything" in reply.text
    assert tools.weather_calls == ["Oslo", "Rome"]
    wrap_up = fake_llm.requests[-1]
    assert wrap_up["tool_choice"] == {"type": "none"}
    assert "Stop using tools now" in str(wrap_up["messages"][-1])
    assert agent.metric("bot_agent_limits_hit_total", limit="max_iterations") == 1


async def test_without_a_wrap_up_text_the_best_answer_so_far_is_kept(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    agent = make_agent("openai", tools=tools.registry)
    fake_llm.tool_use(("weather", {"city": "Oslo"}), text="Oslo is sunny so far.")
    fake_llm.reply("")
    reply = await agent.responder(max_iterations=1).respond(await conversation().turn("?"),
                                                            Events())
    assert reply.text.startswith("Oslo is sunny so far.")
    assert fake_llm.requests[-1]["tool_choice"] == "none"


async def test_same_call_repeated_ends_the_loop(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    agent = make_agent(tools=tools.registry, agent_repeat_call_limit=2)
    for _ in range(4):
        fake_llm.tool_use(("weather", {"city": "Oslo"}))
    reply = await agent.responder().respond(await conversation().turn("?"), Events())
    assert tools.weather_calls == ["Oslo", "Oslo"]
    assert "couldn't get any further" in reply.text
    assert agent.metric("bot_agent_limits_hit_total", limit="repeated_call") == 1


async def test_read_only_calls_of_one_step_run_together_side_effects_in_order(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    registry, log = ToolRegistry(), []
    both_running = asyncio.Barrier(2)

    @registry.tool(side_effects=False)
    async def lookup(args: CityInput, ctx: ToolContext) -> str:
        # Passes only if the two lookups are in progress at the same time.
        async with asyncio.timeout(5):
            await both_running.wait()
        log.append(f"lookup {args.city}")
        return "found"

    @registry.tool(side_effects=True)
    async def note(args: CityInput, ctx: ToolContext) -> str:
        log.append(f"note {args.city}")
        return "noted"

    agent = make_agent(tools=registry)
    fake_llm.tool_use(("note", {"city": "A1"}), ("lookup", {"city": "Oslo"}),
                      ("lookup", {"city": "Rome"}), ("note", {"city": "B2"}))
    fake_llm.reply("Done.")
    reply = await agent.responder().respond(await conversation().turn("?"), Events())
    assert reply.text == "Done."
    assert log[0] == "note A1" and log[-1] == "note B2"
    assert sorted(log[1:3]) == ["lookup Oslo", "lookup Rome"]
    results = str(fake_llm.requests[1]["messages"][-1])
    assert results.index("noted") < results.index("found") < results.rindex("noted")


async def test_too_many_calls_in_one_step_are_refused_beyond_the_limit(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    agent = make_agent(tools=tools.registry)
    fake_llm.tool_use(*[("weather", {"city": f"City{i}"}) for i in range(7)])
    fake_llm.reply("Done.")
    await agent.responder(max_tool_calls_per_iteration=5).respond(
        await conversation().turn("?"), Events())
    assert len(tools.weather_calls) == 5
    assert "at most 5 tool calls" in str(fake_llm.requests[1]["messages"][-1])


async def test_session_tool_call_cap(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    agent = make_agent(tools=tools.registry, agent_session_tool_call_cap=1)
    conv = conversation()
    fake_llm.tool_use(("weather", {"city": "Oslo"})).reply("Sunny.")
    await agent.responder().respond(await conv.turn("?"), Events())
    fake_llm.tool_use(("weather", {"city": "Rome"}))
    reply = await agent.responder().respond(await conv.turn("and Rome?"), Events())
    assert tools.weather_calls == ["Oslo"]
    assert "as many lookups as I can" in reply.text


async def test_side_effect_happens_once_when_the_turn_runs_again(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    agent = make_agent(tools=tools.registry)
    conv = conversation()
    turn = await conv.turn("order two lamps")
    for _ in range(2):  # the same turn twice, as after a crash before the reply was stored
        fake_llm.tool_use(("place_order", {"item": "lamp", "quantity": 2}))
        fake_llm.reply("Your order is placed.")
        reply = await agent.responder().respond(turn, Events())
        assert reply.text == "Your order is placed."
    assert len(tools.orders) == 1 and tools.orders[0][2]  # one effect, with its key
    rows = await conv.rows(turn, "SELECT status, idempotency_key FROM app.tool_calls"
                                 " WHERE tool = 'place_order' AND message_id = %s",
                           turn.message_ids[-1])
    assert len(rows) == 1 and rows[0]["idempotency_key"] == tools.orders[0][2]
    assert "Order placed" in str(fake_llm.requests[-1]["messages"][-1])


async def test_slow_response_past_the_deadline_ends_with_an_answer(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent()
    fake_llm.slow(5.0)
    reply = await agent.responder(turn_deadline_s=0.5).respond(await conversation().turn("?"),
                                                               Events())
    assert "couldn't finish this in time" in reply.text
    assert_safe(reply.text)
    assert agent.metric("bot_agent_limits_hit_total", limit="deadline") == 1


async def test_llm_busy_hands_the_turn_back_with_a_user_safe_text(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent()
    for _ in range(3):
        fake_llm.error(529, error_type="overloaded_error")
    events = Events()
    with pytest.raises(AgentBusyError) as raised:
        await agent.responder().respond(await conversation().turn("?"), events)
    assert raised.value.user_text == BUSY_TEXT
    assert ("status", {"text": BUSY_TEXT + " I'll try again in a moment."}) in events.items
    assert agent.sleep.waits == [1.0, 2.0]


async def test_deadline_while_waiting_to_retry_the_model_hands_the_turn_back(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent(sleep_blocks=True)
    fake_llm.error(429, retry_after="20")
    with pytest.raises(AgentBusyError):
        await agent.responder(turn_deadline_s=0.3).respond(await conversation().turn("?"),
                                                           Events())
    assert agent.sleep.waits == [20.0]


async def test_rejected_llm_call_gives_the_busy_text_not_the_error(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent()
    fake_llm.error(401, error_type="authentication_error")
    reply = await agent.responder().respond(await conversation().turn("?"), Events())
    assert reply.text == BUSY_TEXT
    assert_safe(reply.text)


async def test_past_the_daily_caps_the_bot_answers_offline(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent(llm_user_daily_token_budget=100, llm_daily_cost_cap_usd=0)
    conv = conversation()
    fake_llm.reply("first", input_tokens=90, output_tokens=20)
    assert (await agent.responder().respond(await conv.turn("?"), Events())).text == "first"
    reply = await agent.responder().respond(await conv.turn("again"), Events())
    assert "usage limit for today has been reached" in reply.text
    assert len(fake_llm.requests) == 1
    assert agent.metric("bot_agent_budget_exhausted_total", scope="user_daily_tokens") == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_answer_is_streamed_only_where_the_channel_shows_it_arriving(
    provider: str, make_agent: Callable[..., Agent], fake_llm: FakeLLM,
    conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent(provider, llm_stream=True)
    conv = conversation()
    fake_llm.reply("Streamed to the web chat.").reply("Sent whole on WhatsApp.")
    events = Events()
    web = await agent.responder().respond(await conv.turn("hi"), events)
    whole = Events()
    turn = replace(await conv.turn("hi again"), shows_text_as_written=False)
    whatsapp = await agent.responder().respond(turn, whole)
    assert (web.text, whatsapp.text) == ("Streamed to the web chat.", "Sent whole on WhatsApp.")
    streamed, unstreamed = fake_llm.requests
    assert streamed.get("stream") is True and not unstreamed.get("stream")
    # the whole text still reaches observers, once
    assert [d["text"] for e, d in whole.items if e == "text_delta"] == ["Sent whole on WhatsApp."]
