"""The acceptance conversation through the offline studio flow, on the real database.

"when is yoga on Saturday?" → the Saturday yoga classes; "book the 9am one" → a
confirmation with quick replies; "yes" → a booking row and a confirmation; the
cancellation policy with its source; and a second person who can neither see nor
cancel the first one's booking.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from bot.db.pool import Database
from bot.knowledge.ingest import ingest_path
from bot.models import PickList, QuickReplies
from studio.flow import StudioFlow
from studio.models import studio_zone
from studio.seed import seed_demo
from tests.bots.studio.conftest import ContactFactory

ROOT = Path(__file__).resolve().parents[3]


def friday_before_next_saturday() -> date:
    """A "today" for which "on Saturday" is a day whose classes all lie ahead."""
    today = datetime.now(studio_zone()).date()
    return today + timedelta(days=((5 - today.weekday()) % 7 or 7) - 1)


@pytest.fixture
async def flow(db: Database) -> StudioFlow:
    await seed_demo(db)
    collection = uuid4().hex
    await ingest_path(db, ROOT / "bots/studio/knowledge", collection=collection)
    return StudioFlow(db, kb_collection=collection, today=friday_before_next_saturday)


async def booking_rows(db: Database, contact: UUID) -> list[dict[str, object]]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT id, class_id, status FROM app.studio_bookings"
                                 " WHERE contact_id = %s", (contact,))
        return await cur.fetchall()


async def test_schedule_book_confirm_policy(flow: StudioFlow, db: Database,
                                            make_contact: ContactFactory) -> None:
    a = await make_contact()
    listing = await flow.schedule(a, "when is yoga on Saturday?")
    assert listing.text.startswith("Yoga classes on Saturday")
    [pick] = listing.parts
    assert isinstance(pick, PickList)
    titles = [o.title for o in pick.options]
    assert "Sat 9:00am Vinyasa Flow" in titles and "Sat 11:00am Slow Flow" in titles

    prompt = await flow.book(a, "book the 9am one", "msg-40")
    assert prompt.text.startswith("Book Vinyasa Flow with Maya Chen on Sat")
    [buttons] = prompt.parts
    assert isinstance(buttons, QuickReplies)
    assert [o.title for o in buttons.options] == ["Yes, book it", "No"]
    assert await booking_rows(db, a) == []  # nothing happens before the yes

    done = await flow.book(a, "yes please", "msg-41")  # a typed yes, routed as a follow-up
    assert done.text.startswith("You're booked: Vinyasa Flow on Sat")
    [row] = await booking_rows(db, a)
    assert row["status"] == "booked"
    # the yes arriving again (a re-run turn, a double tap) books nothing more
    again = await flow.handle_payload(a, buttons.options[0].payload, "msg-41")
    assert again is not None and again.text.startswith("You're booked")
    assert len(await booking_rows(db, a)) == 1

    policy = await flow.answer(a, "what's your cancellation policy?")
    assert "12 hours before" in policy.text
    assert "Source: Policies › Cancellation policy" in policy.text

    # a second person sees none of it and cannot cancel it
    b = await make_contact()
    assert (await flow.my_bookings(b)).text == "You have no upcoming bookings."
    booking_id = row["id"]
    attempt = await flow.handle_payload(b, f"confirm_cancel:{booking_id}", "msg-b1")
    assert attempt is not None and attempt.text == "I couldn't find that booking."
    asked = await flow.handle_payload(b, f"cancel:{booking_id}", "msg-b2")
    assert asked is not None and asked.text == "I couldn't find that booking."
    assert [r["status"] for r in await booking_rows(db, a)] == ["booked"]


async def test_a_new_day_is_not_taken_from_the_last_list(
        flow: StudioFlow, make_contact: ContactFactory) -> None:
    a = await make_contact()
    await flow.schedule(a, "when is yoga on Saturday?")
    prompt = await flow.book(a, "book yoga on Sunday", "m1")
    assert prompt.text.startswith("Book Yin Yoga with Maya Chen on Sun")
    several = await flow.book(a, "book Maya's class on Saturday", "m2")
    assert several.text.startswith("Which one would you like to book")
    assert len(several.options()) >= 2


async def test_cancel_through_the_flow(flow: StudioFlow, db: Database,
                                       make_contact: ContactFactory) -> None:
    a = await make_contact()
    await flow.schedule(a, "spin classes")
    await flow.book(a, "the first one", "msg-0")
    await flow.confirm(a, "msg-1")
    mine = await flow.my_bookings(a)
    [option] = mine.options()
    prompt = await flow.cancel(a, "cancel my spin class", "msg-c")
    assert prompt.text.startswith("Cancel ")
    assert [o.title for o in prompt.options()] == ["Yes, cancel it", "No, keep it"]
    kept = await flow.cancel(a, "no, keep it", "msg-d")
    assert "left it" in kept.text
    assert (await flow.confirm(a, "msg-2")).text.startswith("There's nothing waiting")
    await flow.handle_payload(a, option.payload, "msg-3")
    done = await flow.confirm(a, "msg-4")
    assert done.text.startswith("Done, ")
    assert [r["status"] for r in await booking_rows(db, a)] == ["cancelled"]


async def test_unsure_answers_offer_topics_and_a_person(flow: StudioFlow,
                                                        make_contact: ContactFactory) -> None:
    a = await make_contact()
    reply = await flow.answer(a, "is there a sauna")
    assert reply.options()[-1].payload == "intent:human_handoff"
    topic = await flow.handle_payload(a, "kb:Guest passes", "m")
    assert topic is not None and "Source: Policies › Guest passes" in topic.text
    assert await flow.handle_payload(a, "menu", "m") is None
