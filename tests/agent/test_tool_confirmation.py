"""Tools a route marks `confirm` run only after the person taps Yes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from bot.agent import confirm
from bot.definition import IntentSpec
from bot.models import QuickReplies
from bot.routing.responder import TurnContext
from testing.llm_server import FakeLLM
from tests.agent.conftest import Agent, Conversation, Events
from tests.agent.tools_for_tests import TestTools


def tapped(turn: TurnContext, answer: str) -> TurnContext:
    return dataclasses.replace(turn, payload=confirm.payload_prefix("question") + answer)


async def test_a_confirm_tool_waits_for_yes_then_runs_once(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    responder = make_agent(tools=tools.registry).responder(confirm=("place_order",))
    conv = conversation()

    fake_llm.tool_use(("place_order", {"item": "tea", "quantity": 2}),
                      text="I'll order 2 boxes of tea for you.")
    first = await conv.turn("order two boxes of tea")
    asked = await responder.respond(first, Events())
    await conv.answer(first, asked)
    assert tools.orders == [] and len(fake_llm.requests) == 1, "nothing ran, no second call"
    assert asked.text == "I'll order 2 boxes of tea for you.\n\n" + confirm.QUESTION
    (buttons,) = asked.parts
    assert isinstance(buttons, QuickReplies)
    assert [(o.title, o.payload) for o in buttons.options] == [
        ("Yes", "confirm_tool:question:yes"), ("No", "confirm_tool:question:no")]

    fake_llm.reply("Done: 2 boxes of tea are ordered.")
    yes = tapped(await conv.turn("Yes"), "yes")
    done = await responder.respond(yes, Events())
    await conv.answer(yes, done)
    assert done.text == "Done: 2 boxes of tea are ordered."
    assert [(item, n) for item, n, _ in tools.orders] == [("tea", 2)]
    assert tools.orders[0][2] is not None, "keyed to the confirming message"
    assert "Order placed: 2 x tea" in json.dumps(fake_llm.requests[-1]["messages"])
    # the waiting call is bookkeeping, never shown to the model as something remembered
    assert confirm.PENDING_KEY not in json.dumps(fake_llm.requests[-1]["system"])

    again = tapped(await conv.turn("Yes"), "yes")  # an old button tapped twice
    late = await responder.respond(again, Events())
    await conv.answer(again, late)
    assert late.text == confirm.EXPIRED_TEXT and len(tools.orders) == 1
    assert len(fake_llm.requests) == 2, "no LLM call for a stale tap"


async def test_no_runs_nothing_and_a_later_yes_finds_nothing_open(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    responder = make_agent(tools=tools.registry).responder(confirm=("place_order",))
    conv = conversation()
    fake_llm.tool_use(("place_order", {"item": "cake", "quantity": 1}))
    first = await conv.turn("a cake please")
    asked = await responder.respond(first, Events())
    await conv.answer(first, asked)
    assert asked.text == confirm.QUESTION
    no = tapped(await conv.turn("No"), "no")
    declined = await responder.respond(no, Events())
    await conv.answer(no, declined)
    assert declined.text == confirm.DECLINED_TEXT and tools.orders == []
    yes = tapped(await conv.turn("Yes"), "yes")  # after No, Yes finds nothing open
    assert (await responder.respond(yes, Events())).text == confirm.EXPIRED_TEXT
    assert tools.orders == [] and len(fake_llm.requests) == 1


async def test_a_typed_yes_answers_the_waiting_question_and_a_typed_yes_alone_does_not(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
) -> None:
    tools = TestTools()
    responder = make_agent(tools=tools.registry).responder(confirm=("place_order",))
    conv = conversation()
    fake_llm.tool_use(("place_order", {"item": "jam", "quantity": 3}))
    first = await conv.turn("three jars of jam")
    await conv.answer(first, await responder.respond(first, Events()))
    fake_llm.reply("Ordered 3 jars of jam.")
    typed = await conv.turn("yes please")  # typed, no button payload
    done = await responder.respond(typed, Events())
    await conv.answer(typed, done)
    assert done.text == "Ordered 3 jars of jam." and len(tools.orders) == 1
    fake_llm.reply("Glad to hear it!")
    again = await conv.turn("ok")  # nothing waits now: an ordinary message for the model
    assert (await responder.respond(again, Events())).text == "Glad to hear it!"
    assert len(tools.orders) == 1


def test_a_route_with_confirmations_owns_the_buttons_payloads() -> None:
    spec = IntentSpec.model_validate({
        "name": "bookings", "examples": ["cancel my class"],
        "route": {"type": "agent", "tools": ["cancel_booking"], "confirm": ["cancel_booking"]}})
    assert spec.payloads == ["confirm_tool:bookings:"]
    plain = IntentSpec.model_validate({"name": "faq", "route": {"type": "agent"}})
    assert plain.payloads == []
