"""The example bot driven by the agent: the web chat API, the studio definition, the real
local classifier and tools, and the real SDK talking to the fake provider on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from bot.db.pool import Database
from bot.settings import Settings
from studio.models import studio_zone
from studio.seed import seed_demo
from testing.llm_server import FakeLLM
from tests.bots.studio.chat_helpers import STUDIO_BOT, bookings_of, contact_of, handoffs_of
from tests.chat_api import ChatClient, chat_http, option_titles
from tests.conftest import RuntimeFactory

SOURCE = "Policies › Cancellation policy"


def next_saturday() -> date:
    """A Saturday whose classes all lie ahead."""
    today = datetime.now(studio_zone()).date()
    return today + timedelta(days=(5 - today.weekday()) % 7 or 7)


async def rows(db: Database, sql: str, *params: Any) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute(sql, params)
        return list(await cur.fetchall())


async def intent_of(db: Database, message_id: int | None) -> tuple[str, str]:
    [row] = await rows(db, "SELECT intent, method FROM app.intent_classifications"
                           " WHERE message_id = %s", message_id)
    return row["intent"], row["method"]


async def tool_calls_of(db: Database, message_id: int | None) -> list[dict[str, Any]]:
    return await rows(db, "SELECT contact_id, tool, status, result FROM app.tool_calls"
                          " WHERE message_id = %s ORDER BY id", message_id)


def tool_results(request: dict[str, Any]) -> list[str]:
    """The tool results the model was shown in one Anthropic request."""
    return [block["content"] for message in request["messages"]
            for block in (message["content"] if isinstance(message["content"], list) else [])
            if block.get("type") == "tool_result"]


async def test_the_studio_conversation_with_the_agent(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings],
    fake_llm: FakeLLM, db: Database,
) -> None:
    await seed_demo(db)
    saturday = next_saturday()
    settings = agent_settings(bot_definition=STUDIO_BOT, llm_retry_attempts=1,
                              turn_max_attempts=3)
    async with runtime_factory(settings=settings) as rt, chat_http(rt) as http:
        assert rt.agent is not None
        a = ChatClient(http)
        hello = await a.say("hello")  # a direct route: no model call
        assert "Class schedule" in option_titles(hello) and fake_llm.requests == []

        fake_llm.tool_use(("list_schedule", {"day": saturday.isoformat(), "class_type": "yoga"}))
        fake_llm.reply("On Saturday there's **Vinyasa Flow** at 9:00am and **Slow Flow** at "
                       "11:00am. Shall I book one?")
        listing = await a.say("when is yoga on Saturday?")
        alice = await contact_of(db, a.message_id)
        assert await intent_of(db, a.message_id) == ("class_schedule", "local")
        assert listing["text"].startswith("On Saturday there's **Vinyasa Flow**")
        [pick] = listing["parts"]  # the schedule tool's pick list, as offline
        assert pick["kind"] == "list"
        assert [o["title"] for o in pick["options"]] == ["Sat 9:00am Vinyasa Flow",
                                                         "Sat 11:00am Slow Flow"]
        nine = int(pick["options"][0]["payload"].removeprefix("book:"))
        [listed] = await tool_calls_of(db, a.message_id)
        assert (listed["contact_id"], listed["tool"], listed["status"]) == (
            alice, "list_schedule", "ok")
        assert [c["class_id"] for c in json.loads(listed["result"])] == [
            nine, int(pick["options"][1]["payload"].removeprefix("book:"))]

        # book_class needs the person's Yes (the route lists it under `confirm`): the
        # model's call ends the turn with a question and two buttons, nothing is booked
        book = ("book_class", {"class_id": nine})
        fake_llm.tool_use(book)
        asked = await a.say("book the 9am one")
        assert await intent_of(db, a.message_id) == ("book_class", "local")
        assert asked["text"].endswith("Shall I go ahead?")
        assert option_titles(asked) == ["Yes", "No"]
        assert await bookings_of(db, alice) == []  # nothing before the yes
        yes = next(o["payload"] for o in asked["parts"][0]["options"] if o["title"] == "Yes")

        # the Yes runs exactly the stored call; the model fails after the booking, the
        # queue re-runs the turn, and the repeated call replays the stored booking
        fake_llm.error(529, error_type="overloaded_error")
        fake_llm.reply("You're booked into Vinyasa Flow on Saturday at 9:00am.")
        calls_before = len(fake_llm.requests)
        done = await a.say("Yes", payload=yes)
        assert done["text"] == "You're booked into Vinyasa Flow on Saturday at 9:00am."
        assert await intent_of(db, a.message_id) == ("book_class", "payload")
        assert len(fake_llm.requests) == calls_before + 2
        [booking] = await bookings_of(db, alice)
        assert (booking["class_id"], booking["status"]) == (nine, "booked")
        [booked] = await tool_calls_of(db, a.message_id)  # the replay recorded nothing new
        assert (booked["contact_id"], booked["tool"], booked["status"]) == (
            alice, "book_class", "ok")
        assert json.loads(booked["result"])["outcome"] == "booked"
        assert booked["result"] in tool_results(fake_llm.requests[-1])

        fake_llm.tool_use(("search_knowledge", {"query": "cancellation policy"}))
        fake_llm.reply(f"Cancel at least 12 hours before class for free.\n\n_Source: {SOURCE}_")
        policy = await a.say("what's your cancellation policy?")
        assert await intent_of(db, a.message_id) == ("studio_policies", "local")
        assert policy["text"].endswith(f"_Source: {SOURCE}_")
        [passages] = tool_results(fake_llm.requests[-1])
        found = json.loads(passages)["passages"]
        assert found[0]["source"] == SOURCE and "12 hours before" in found[0]["text"]

        requests_before = len(fake_llm.requests)
        person = await a.say("I want to talk to a person")
        assert "person" in person["text"].lower()
        assert len(fake_llm.requests) == requests_before  # the handoff is a direct route
        assert [(h["status"], h["intent"]) for h in await handoffs_of(db, alice)] == [
            ("waiting", "human_handoff")]

        # another person, through the same tools: sees no bookings, cannot cancel Alice's
        b = ChatClient(http)
        fake_llm.tool_use(("my_bookings", {}))
        fake_llm.tool_use(("cancel_booking", {"booking_id": booking["id"]}))
        question = await b.say("please cancel my booking")
        bob = await contact_of(db, b.message_id)
        assert await intent_of(db, b.message_id) == ("cancel_booking", "local")
        [mine] = await tool_calls_of(db, b.message_id)
        assert (mine["contact_id"], mine["tool"], json.loads(mine["result"])) == (
            bob, "my_bookings", [])
        fake_llm.reply("I couldn't find a booking to cancel.")
        yes = next(o["payload"] for o in question["parts"][0]["options"] if o["title"] == "Yes")
        await b.say("Yes", payload=yes)
        [cancel] = await tool_calls_of(db, b.message_id)
        assert cancel["contact_id"] == bob and cancel["tool"] == "cancel_booking"
        assert json.loads(cancel["result"])["outcome"] == "not_found"
    assert [r["status"] for r in await bookings_of(db, alice)] == ["booked"]
    assert await bookings_of(db, bob) == []
    assert isinstance(alice, UUID) and alice != bob
