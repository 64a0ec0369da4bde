"""Memory tools, the user context block, escalation, and the rolling summary."""

from __future__ import annotations

from collections.abc import Callable

from bot.agent.history import split_for_budget
from bot.agent.prompt import GUARDRAILS
from bot.models import OutboundReply
from testing.llm_server import FakeLLM
from tests.agent.conftest import Agent, Conversation, Events


def system_of(request: dict[str, object]) -> str:
    if "system" in request:
        return str(request["system"])
    messages = request["messages"]
    assert isinstance(messages, list)
    return str(messages[0]["content"])


async def test_remembered_facts_reach_the_next_prompt_and_forget_hides_them(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent()
    conv = conversation()
    fake_llm.tool_use(("remember", {"key": "home_city", "value": "Lisbon",
                                    "kind": "fact"})).reply("Noted!")
    turn = await conv.turn("I live in Lisbon")
    assert (await agent.responder().respond(turn, Events())).text == "Noted!"
    rows = await conv.rows(turn, "SELECT key, value, kind FROM app.user_context")
    assert rows == [{"key": "home_city", "value": "Lisbon", "kind": "fact"}]

    fake_llm.tool_use(("update_memory", {"key": "home_city", "value": "Porto"})).reply("Ok")
    await agent.responder().respond(await conv.turn("I moved to Porto"), Events())
    rows = await conv.rows(turn, "SELECT value FROM app.user_context WHERE key = 'home_city'")
    assert rows == [{"value": "Porto"}]
    fake_llm.tool_use(("forget", {"key": "home_city"})).reply("Forgotten.")
    await agent.responder().respond(await conv.turn("forget where I live"), Events())
    fake_llm.reply("Hello")
    await agent.responder().respond(await conv.turn("hi"), Events())
    assert "- fact home_city: Porto" in system_of(fake_llm.requests[4])  # known before forget
    assert "home_city" not in system_of(fake_llm.requests[6])


async def test_memory_tools_act_only_for_the_acting_user(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent()
    alice, bob = conversation(), conversation()
    fake_llm.tool_use(("remember", {"key": "pet", "value": "cat"})).reply("ok")
    alice_turn = await alice.turn("I have a cat")
    await agent.responder().respond(alice_turn, Events())
    fake_llm.tool_use(("forget", {"key": "pet"})).reply("ok")
    bob_turn = await bob.turn("forget the pet")
    await agent.responder().respond(bob_turn, Events())
    assert "Nothing is remembered under pet" in str(fake_llm.requests[-1]["messages"][-1])
    assert await alice.rows(alice_turn, "SELECT key FROM app.user_context"
                                        " WHERE expires_at IS NULL") == [{"key": "pet"}]


async def test_escalation_marks_the_session_and_is_recorded(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent()
    conv = conversation()
    fake_llm.tool_use(("escalate_to_human", {"reason": "wants a refund"}))
    fake_llm.reply("A person will reply here shortly.")
    turn = await conv.turn("I want to speak with a human")
    result = await agent.responder().answer(turn, Events())
    assert result.reply.text == "A person will reply here shortly."
    assert result.escalation_reason == "wants a refund"
    (session,) = await conv.rows(turn, "SELECT status FROM app.sessions WHERE id = %s",
                                 turn.session.id)
    assert session["status"] == "escalated"


async def test_system_prompt_carries_persona_guardrails_and_canary(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent(bot_persona="You are Pia from Lamp & Co.", prompt_canary="cnry-fixed")
    fake_llm.reply("hi")
    await agent.responder().respond(await conversation().turn("hi"), Events())
    system = system_of(fake_llm.requests[0])
    assert system.startswith("You are Pia from Lamp & Co.")
    assert "speak with a human" in system and "cnry-fixed" in system
    assert agent.services.canary == "cnry-fixed"
    assert GUARDRAILS.splitlines()[1].strip() in system


def test_split_keeps_recent_messages_within_the_budget() -> None:
    rows = [{"id": i, "direction": "in" if i % 2 == 0 else "out", "text": "x" * 400}
            for i in range(10)]  # about 104 tokens each
    fold, keep = split_for_budget(rows, budget=500, keep_ratio=0.5)
    assert [r["id"] for r in keep] == [8, 9]
    assert [r["id"] for r in fold] == list(range(8))
    assert split_for_budget(rows[:3], budget=500, keep_ratio=0.5) == ([], rows[:3])


async def test_older_turns_are_folded_into_an_llm_written_summary(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent(agent_history_token_budget=200, agent_history_keep_ratio=0.5)
    conv = conversation()
    for i in range(6):
        turn = await conv.turn(f"question {i} " + "words " * 40)
        await conv.answer(turn, OutboundReply(text=f"answer {i} " + "more " * 40))
    fake_llm.reply("SUMMARY: asked six questions")  # the summary call comes first
    fake_llm.reply("Here you go.")
    turn = await conv.turn("one more")
    assert (await agent.responder().respond(turn, Events())).text == "Here you go."
    summary_request, answer_request = fake_llm.requests
    assert "question 0" in str(summary_request["messages"])
    assert "SUMMARY: asked six questions" in system_of(answer_request)
    assert "question 0" not in str(answer_request["messages"])
    assert "answer 5" in str(answer_request["messages"])
    (session,) = await conv.rows(turn, "SELECT summary, summary_through FROM app.sessions"
                                       " WHERE id = %s", turn.session.id)
    assert session["summary"] == "SUMMARY: asked six questions"
    purposes = await conv.rows(turn, "SELECT purpose FROM app.llm_calls WHERE message_id = %s"
                                     " ORDER BY id", turn.message_ids[-1])
    assert [p["purpose"] for p in purposes] == ["summary", "answer"]


async def test_summary_falls_back_to_the_transcript_when_the_model_fails(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent(agent_history_token_budget=200)
    conv = conversation()
    for i in range(6):
        turn = await conv.turn(f"question {i} " + "words " * 40)
        await conv.answer(turn, OutboundReply(text=f"answer {i}"))
    fake_llm.error(500).reply("Fine.")
    turn = await conv.turn("next")
    assert (await agent.responder().respond(turn, Events())).text == "Fine."
    assert "User: question 0" in system_of(fake_llm.requests[-1])


async def test_a_budget_naming_an_unknown_tool_fails_when_the_route_is_built(
    make_agent: Callable[..., Agent],
) -> None:
    import pytest

    with pytest.raises(ValueError, match="knowledge_search"):
        make_agent().responder(tools=("remember", "knowledge_search"))
