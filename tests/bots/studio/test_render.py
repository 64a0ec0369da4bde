"""Studio results as replies with rich parts, and payloads read back."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.models import Carousel, PickList, QuickReplies
from studio import payloads
from studio.models import (
    Booking,
    BookingResult,
    BookOutcome,
    CancelOutcome,
    CancelResult,
    ClassSlot,
    OpeningHours,
    studio_zone,
)
from studio.render import (
    booking_prompt,
    booking_result_reply,
    bookings_reply,
    cancel_prompt,
    cancel_result_reply,
    clock,
    opening_hours_reply,
    plans_reply,
    schedule_reply,
)
from studio.seed import PLANS


def slot(id_: int = 7, seats_left: int = 4, hour: int = 9) -> ClassSlot:
    return ClassSlot(id=id_, class_type="yoga", title="Vinyasa Flow", instructor="Maya Chen",
                     starts_at=datetime(2026, 11, 21, hour, 0, tzinfo=studio_zone()),
                     duration_minutes=60, room="Studio A", capacity=20, seats_left=seats_left)


def booking(status: str = "booked") -> Booking:
    return Booking.model_validate({"id": 42, "status": status, "slot": slot(),
                                   "created_at": datetime(2026, 11, 18, tzinfo=UTC)})


@pytest.mark.parametrize(("value", "text"), [
    (time(9), "9:00am"), (time(18, 30), "6:30pm"), (time(12, 15), "12:15pm"),
    (time(0, 5), "12:05am")])
def test_clock(value: time, text: str) -> None:
    assert clock(value) == text


def test_schedule_is_a_pick_list_that_books() -> None:
    reply = schedule_reply([slot(7), slot(8, seats_left=0, hour=11)], "Yoga on Saturday")
    assert reply.text.startswith("Yoga on Saturday:")
    assert "Sat 21 Nov, 9:00am — Vinyasa Flow with Maya Chen (4 spots left)" in reply.text
    [part] = reply.parts
    assert isinstance(part, PickList)
    assert [o.payload for o in part.options] == ["book:7", "book:8"]
    assert part.options[0].title == "Sat 9:00am Vinyasa Flow"
    assert all(len(o.title) <= 24 for o in part.options)
    assert part.options[1].description is not None and "full" in part.options[1].description


def test_schedule_caps_rows_and_handles_nothing() -> None:
    reply = schedule_reply([slot(i) for i in range(15)])
    assert len(reply.options()) == 10
    assert schedule_reply([]).parts == []


def test_booking_prompt_asks_yes_or_no() -> None:
    reply = booking_prompt(slot(7))
    [part] = reply.parts
    assert isinstance(part, QuickReplies)
    assert [o.payload for o in part.options] == ["confirm_book:7", "cancel_flow"]
    assert booking_prompt(slot(7, seats_left=0)).parts == []


@pytest.mark.parametrize(("outcome", "words"), [
    (BookOutcome.BOOKED, "You're booked"), (BookOutcome.ALREADY_BOOKED, "already have"),
    (BookOutcome.FULL, "is full"), (BookOutcome.STARTED, "already started"),
    (BookOutcome.NOT_FOUND, "couldn't find")])
def test_booking_results(outcome: BookOutcome, words: str) -> None:
    found = slot() if outcome is not BookOutcome.NOT_FOUND else None
    assert words in booking_result_reply(BookingResult(outcome=outcome, slot=found)).text


def test_bookings_offer_cancelling() -> None:
    reply = bookings_reply([booking()])
    assert [o.payload for o in reply.options()] == ["cancel:42"]
    assert bookings_reply([]).text == "You have no upcoming bookings."
    prompt = cancel_prompt(booking())
    assert [o.payload for o in prompt.options()] == ["confirm_cancel:42", "cancel_flow"]


def test_cancel_results() -> None:
    done = cancel_result_reply(CancelResult(outcome=CancelOutcome.CANCELLED,
                                            booking=booking("cancelled"), late=True))
    assert "is cancelled" in done.text and "late cancellation" in done.text
    assert "couldn't find" in cancel_result_reply(
        CancelResult(outcome=CancelOutcome.NOT_FOUND)).text


def test_plans_are_a_carousel() -> None:
    reply = plans_reply(list(PLANS))
    [part] = reply.parts
    assert isinstance(part, Carousel)
    assert part.cards[0].title == "Drop-in · $25 / visit"
    assert part.cards[4].title == "Annual Unlimited · $1,490 / year"
    assert [b.payload for c in part.cards for b in c.buttons][:2] == ["plan:drop-in",
                                                                     "plan:intro-week"]


def test_opening_hours_text() -> None:
    reply = opening_hours_reply([OpeningHours(weekday=7, opens=time(8, 30), closes=time(18),
                                              note="Front desk from 9:00")])
    assert "• Sunday: 8:30am–6:00pm (Front desk from 9:00)" in reply.text


@pytest.mark.parametrize(("payload", "parsed"), [
    ("book:7", ("book", "7")), ("confirm_book:7", ("confirm_book", "7")),
    ("cancel:42", ("cancel", "42")), ("cancel_booking:42", None),
    ("confirm_cancel:42", ("confirm_cancel", "42")),
    ("plan:drop-in", ("plan", "drop-in")), ("cancel_flow", ("cancel_flow", "")),
    ("book:abc", None), ("book:", None), ("menu", None), (None, None), ("other:1", None)])
def test_parse_payload(payload: str | None, parsed: tuple[str, str] | None) -> None:
    assert payloads.parse_payload(payload) == parsed
