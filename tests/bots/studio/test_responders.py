"""The studio flow behind the bot definition's offline handler names."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from bot.db.conversations import SessionInfo
from bot.db.pool import Database
from bot.definition import AgentRoute, load_definition
from bot.intents.contract import Classification
from bot.routing.responder import TurnContext
from studio.flow import StudioFlow
from studio.models import studio_zone
from studio.responders import studio_handlers
from studio.seed import seed_demo
from tests.bots.studio.conftest import ContactFactory

ROOT = Path(__file__).resolve().parents[3]


def turn(contact: UUID, text: str, message_id: int, payload: str | None = None,
         intent: str = "book_class") -> TurnContext:
    return TurnContext(
        contact_id=contact, conversation_id=uuid4(), channel="web", message_ids=[message_id],
        text=text, payload=payload,
        session=SessionInfo(id=uuid4(), status="active", summary="", is_new=False,
                            inbound_count=1),
        classification=Classification(intent=intent, confidence=1.0, method="local"))


async def no_events(event: str, data: dict[str, object]) -> None:
    """The studio steps emit no progress events; the pipeline's emitter is not needed."""


def test_every_studio_offline_route_has_a_handler() -> None:
    definition = load_definition(ROOT / "bots/studio/bot.yaml")
    offline = {i.route.offline_handler for i in definition.intents
               if isinstance(i.route, AgentRoute) and i.route.offline_handler}
    handlers = studio_handlers(StudioFlow(db=None))  # type: ignore[arg-type]
    assert offline <= set(handlers), offline - set(handlers)


async def test_tap_to_book_and_a_rerun_turn(db: Database, make_contact: ContactFactory) -> None:
    await seed_demo(db)
    today = datetime.now(studio_zone()).date()
    flow = StudioFlow(db, today=lambda: today + timedelta(days=1))
    handlers = studio_handlers(flow)
    a = await make_contact()
    listing = await handlers["class_schedule"].respond(turn(a, "spin classes", 1), no_events)
    first = listing.options()[0].payload
    prompt = await handlers["book_class"].respond(turn(a, "", 2, payload=first), no_events)
    yes = prompt.options()[0].payload
    assert yes.startswith("confirm_book:")
    done = await handlers["book_class"].respond(turn(a, "Yes, book it", 3, payload=yes),
                                                no_events)
    rerun = await handlers["book_class"].respond(turn(a, "Yes, book it", 3, payload=yes),
                                                 no_events)
    assert done.text.startswith("You're booked") and rerun.text == done.text
    mine = await handlers["my_bookings"].respond(turn(a, "my bookings", 4), no_events)
    assert len(mine.options()) == 1
    cancel = await handlers["cancel_booking"].respond(
        turn(a, "", 5, payload=mine.options()[0].payload), no_events)
    assert cancel.text.startswith("Cancel ")
    cancelled = await handlers["cancel_booking"].respond(turn(a, "yes", 6), no_events)
    assert cancelled.text.startswith("Done, ")
    again = await handlers["class_schedule"].respond(turn(a, "boxing", 9), no_events)
    await handlers["book_class"].respond(
        turn(a, "", 10, payload=again.options()[0].payload), no_events)
    declined = await handlers["studio_decline"].respond(turn(a, "no", 11), no_events)
    nothing = await handlers["studio_confirm"].respond(turn(a, "yes", 12), no_events)
    assert "left it" in declined.text and nothing.text.startswith("There's nothing waiting")
    plans = await handlers["membership_plans"].respond(turn(a, "prices", 7), no_events)
    assert plans.parts and plans.parts[0].kind == "carousel"
    hours = await handlers["opening_hours"].respond(turn(a, "hours", 8), no_events)
    assert "Saturday: 7:30am–6:00pm" in hours.text
