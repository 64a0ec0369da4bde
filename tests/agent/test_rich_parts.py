"""Rich parts from the agent: tools suggest them, the answer carries them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.agent.builtin_tools import default_registry
from bot.agent.tools import ToolContext, ToolRegistry, TurnRecord
from bot.db.pool import Database
from bot.models import Carousel, Option, PickList, QuickReplies
from studio.seed import seed_demo
from studio.tools import NoInput, register_studio_tools
from testing.llm_server import FakeLLM
from tests.agent.conftest import Agent, Conversation, Events
from tests.agent.tools_for_tests import CityInput


def test_a_later_suggestion_of_the_same_tool_replaces_the_earlier_one() -> None:
    record = TurnRecord()
    first = QuickReplies(options=[Option(title="Oslo", payload="city:oslo")])
    second = QuickReplies(options=[Option(title="Rome", payload="city:rome")])
    cards = Carousel(cards=[])
    record.suggest("cities", [first])
    record.suggest("plans", [cards])
    record.suggest("cities", [second])
    assert record.parts() == [cards, second]
    record.suggest("plans", [])
    assert record.parts() == [second]


async def test_studio_listings_come_with_their_pick_list_and_cards(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM,
    conversation: Callable[[], Conversation], db: Database,
) -> None:
    await seed_demo(db)
    registry = default_registry()
    register_studio_tools(registry)
    agent = make_agent(tools=registry)
    fake_llm.tool_use(("list_schedule", {"class_type": "yoga", "days_ahead": 7}),
                      ("list_plans", {}))
    fake_llm.reply("Here are the yoga classes this week and our plans.")
    conv = conversation()
    turn = await conv.turn("yoga this week, and what do plans cost?")
    reply = await agent.responder(tools=("list_schedule", "list_plans")).respond(turn, Events())
    assert reply.text == "Here are the yoga classes this week and our plans."
    # the two lookups ran concurrently: their parts come in the order they finished
    [pick] = [p for p in reply.parts if isinstance(p, PickList)]
    [plans] = [p for p in reply.parts if isinstance(p, Carousel)]
    assert len(reply.parts) == 2
    assert pick.options and all(o.payload.startswith("book:") for o in pick.options)
    assert [c.title.split(" · ")[0] for c in plans.cards][:2] == ["Drop-in", "Intro Week"]


async def test_a_failed_turn_or_plain_answer_has_no_parts(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM,
    conversation: Callable[[], Conversation],
) -> None:
    registry = ToolRegistry()

    @registry.tool(side_effects=False, title="the city list")
    async def cities(args: NoInput, ctx: ToolContext) -> str:
        """Cities we serve."""
        ctx.turn.suggest("cities", [QuickReplies(options=[Option(title="Oslo",
                                                                 payload="city:oslo")])])
        return "Oslo"

    @registry.tool(side_effects=False, title="the weather service")
    async def weather(args: CityInput, ctx: ToolContext) -> str:
        """Current weather in a city."""
        return "sunny"

    agent = make_agent(tools=registry)
    fake_llm.tool_use(("weather", {"city": "Oslo"})).reply("Sunny.")
    conv = conversation()
    plain = await agent.responder().respond(await conv.turn("weather in Oslo?"), Events())
    assert (plain.text, plain.parts) == ("Sunny.", [])
    fake_llm.tool_use(("cities", {})).reply("We serve Oslo.")
    listed = await agent.responder().respond(await conv.turn("which cities?"), Events())
    assert [o.title for o in listed.options()] == ["Oslo"]


async def test_a_tapped_row_reaches_the_model_with_its_payload(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM,
    conversation: Callable[[], Conversation],
) -> None:
    agent = make_agent()
    fake_llm.reply("Shall I book Vinyasa Flow on Saturday at 9:00am?")
    turn = await conversation().turn("Sat 9:00am Vinyasa Flow")
    tapped = replace(turn, payload="book:12")
    await agent.responder().respond(tapped, Events())
    last = fake_llm.requests[-1]["messages"][-1]
    assert last["content"] == [{"type": "text", "text":
                                "Sat 9:00am Vinyasa Flow (tapped option: book:12)"}]
