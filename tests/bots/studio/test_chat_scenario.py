"""The example bot with no API key, through the web chat API: the real local classifier,
the studio bot definition, its offline handlers and the real database."""

from __future__ import annotations

from collections.abc import Callable

from bot.db.pool import Database
from bot.settings import Settings
from bot.turn.stages.stale_choice import STALE
from studio.models import studio_zone
from studio.seed import seed_demo
from tests.bots.studio.chat_helpers import (
    STUDIO_BOT,
    bookings_of,
    classes_by_id,
    classes_on,
    contact_of,
    handoffs_of,
)
from tests.chat_api import ChatClient, chat_http, option_titles
from tests.conftest import RuntimeFactory


async def test_the_studio_conversation_without_an_llm(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], db: Database,
) -> None:
    await seed_demo(db)
    async with runtime_factory(settings=make_settings(bot_definition=STUDIO_BOT)) as rt, \
            chat_http(rt) as http:
        assert rt.agent is None
        a = ChatClient(http)
        hello = await a.say("hello")
        assert {"Class schedule", "Book a class", "Talk to a person"} <= set(
            option_titles(hello))

        listing = await a.say("when is yoga on Saturday?")
        assert listing["text"].startswith("Yoga classes on Saturday")
        [pick] = listing["parts"]
        listed = [int(o["payload"].removeprefix("book:")) for o in pick["options"]]
        shown = await classes_by_id(db, listed)
        tz = studio_zone()
        [day] = {c["starts_at"].astimezone(tz).date() for c in shown}
        assert day.weekday() == 5 and {c["class_type"] for c in shown} == {"yoga"}
        assert listed == await classes_on(db, "yoga", day, tz)  # all of them, from the DB

        prompt = await a.say("book the 9am one")
        assert prompt["text"].startswith("Book Vinyasa Flow with Maya Chen on Sat")
        assert option_titles(prompt) == ["Yes, book it", "No"]
        alice = await contact_of(db, a.message_id)
        assert await bookings_of(db, alice) == []

        done = await a.say("yes")
        assert done["text"].startswith("You're booked: Vinyasa Flow on Sat")
        [booking] = await bookings_of(db, alice)
        assert (booking["title"], booking["status"]) == ("Vinyasa Flow", "booked")
        assert booking["starts_at"].astimezone(tz).strftime("%a %H:%M") == "Sat 09:00"

        policy = await a.say("what's your cancellation policy?")
        assert "12 hours before" in policy["text"]
        assert "Source: Policies › Cancellation policy" in policy["text"]

        person = await a.say("I want to talk to a person")
        assert "person" in person["text"].lower()
        assert [(h["status"], h["trigger"]) for h in await handoffs_of(db, alice)] == [
            ("waiting", "intent")]

        # someone else sees none of it and cannot cancel it, typed or tapped
        b = ChatClient(http)
        mine = await b.say("show my bookings")
        assert mine["text"] == "You have no upcoming bookings."
        # a forged tap: no question of the bot's offered it, so it does nothing
        tapped = await b.say("Yes, cancel it", payload=f"confirm_cancel:{booking['id']}")
        assert tapped["text"] == STALE.text
        asked = await b.say("Cancel", payload=f"cancel:{booking['id']}")
        assert asked["text"] == STALE.text
    assert [r["status"] for r in await bookings_of(db, alice)] == ["booked"]


async def test_a_button_of_an_answered_question_does_nothing_but_say_so(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings], db: Database,
) -> None:
    """A stale "Yes, book it" re-booked a class just cancelled."""
    await seed_demo(db)
    async with runtime_factory(settings=make_settings(bot_definition=STUDIO_BOT)) as rt, \
            chat_http(rt) as http:
        a = ChatClient(http)
        await a.say("when is yoga on Saturday?")
        prompt = await a.say("book the 9am one")
        [yes] = [o for part in prompt["parts"] for o in part["options"]
                 if o["title"] == "Yes, book it"]
        booked = await a.say(yes["title"], payload=yes["payload"])
        assert booked["text"].startswith("You're booked")
        alice = await contact_of(db, a.message_id)
        # the same button again: answered already
        again = await a.say(yes["title"], payload=yes["payload"])
        assert again["text"] == STALE.text
        # cancelled, then the old "Yes, book it" tapped: still nothing
        listing = await a.say("cancel my booking")
        [pick] = [o for part in listing["parts"] for o in part["options"]]
        confirm = await a.say(pick["title"], payload=pick["payload"])
        [cancel] = [o for part in confirm["parts"] for o in part["options"]
                    if o["title"] == "Yes, cancel it"]
        await a.say(cancel["title"], payload=cancel["payload"])
        stale = await a.say(yes["title"], payload=yes["payload"])
        assert stale["text"] == STALE.text
    assert [r["status"] for r in await bookings_of(db, alice)] == ["cancelled"]
