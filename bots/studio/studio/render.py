"""Studio results as replies with rich parts; pure functions, no I/O.

Option titles stay short (WhatsApp list rows show 24 characters) and details go in
the description. Lists are capped at ten rows, the most any channel shows.
"""

from __future__ import annotations

from datetime import datetime, time

from bot.models import Card, Carousel, Option, OutboundReply, PickList, QuickReplies, short_title
from studio import payloads
from studio.models import (
    Booking,
    BookingResult,
    BookOutcome,
    CancelOutcome,
    CancelResult,
    ClassSlot,
    OpeningHours,
    Plan,
)

MAX_ROWS = 10
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def clock(t: time) -> str:
    """9:00am, 6:30pm, 12:15pm."""
    hour = t.hour % 12 or 12
    return f"{hour}:{t.minute:02d}{'am' if t.hour < 12 else 'pm'}"


def when(dt: datetime) -> str:
    """Sat 14 Mar, 9:00am (in the instant's own zone)."""
    return f"{dt:%a} {dt.day} {dt:%b}, {clock(dt.timetz())}"


def seats(slot: ClassSlot) -> str:
    if slot.full:
        return "full"
    return "1 spot left" if slot.seats_left == 1 else f"{slot.seats_left} spots left"


def slot_option(slot: ClassSlot) -> Option:
    return Option(
        title=short_title(f"{slot.starts_at:%a} {clock(slot.starts_at.timetz())} {slot.title}",
                          24),
        payload=payloads.book(slot.id),
        description=f"{slot.instructor} · {slot.duration_minutes} min · {seats(slot)}",
    )


def schedule_reply(slots: list[ClassSlot],
                   heading: str = "Here's what's coming up") -> OutboundReply:
    """The schedule as a pick list whose rows book the class."""
    if not slots:
        return OutboundReply(text="I couldn't find a class matching that. "
                                  "Try another day, time or class type.")
    lines = [f"• {when(s.starts_at)} — {s.title} with {s.instructor} ({seats(s)})"
             for s in slots[:MAX_ROWS]]
    text = f"{heading}:\n" + "\n".join(lines) + "\n\nPick one to book it."
    return OutboundReply(text=text, parts=[
        PickList(button="Book a class", options=[slot_option(s) for s in slots[:MAX_ROWS]])])


def booking_prompt(slot: ClassSlot) -> OutboundReply:
    """Ask before booking: a side effect needs a yes."""
    text = (f"Book {slot.title} with {slot.instructor} on {when(slot.starts_at)} "
            f"({slot.duration_minutes} min, {slot.room})?")
    if slot.full:
        text = f"{slot.title} on {when(slot.starts_at)} is full. Try another class?"
        return OutboundReply(text=text)
    return OutboundReply(text=text, parts=[QuickReplies(options=[
        Option(title="Yes, book it", payload=payloads.confirm_book(slot.id)),
        Option(title="No", payload=payloads.CANCEL_FLOW),
    ])])


def booking_result_reply(result: BookingResult) -> OutboundReply:
    slot = result.slot
    name = f"{slot.title} on {when(slot.starts_at)}" if slot else "that class"
    text = {
        BookOutcome.BOOKED: f"You're booked: {name}. See you there!",
        BookOutcome.ALREADY_BOOKED: f"You already have a spot in {name}.",
        BookOutcome.FULL: f"Sorry, {name} is full. Want to try another class?",
        BookOutcome.STARTED: f"{name[0].upper()}{name[1:]} has already started.",
        BookOutcome.NOT_FOUND: "I couldn't find that class any more.",
    }[result.outcome]
    return OutboundReply(text=text)


def bookings_reply(bookings: list[Booking]) -> OutboundReply:
    """The person's upcoming bookings; each row offers to cancel it."""
    if not bookings:
        return OutboundReply(text="You have no upcoming bookings.")
    lines = [f"• {when(b.slot.starts_at)} — {b.slot.title} with {b.slot.instructor}"
             for b in bookings[:MAX_ROWS]]
    options = [Option(title=slot_option(b.slot).title, payload=payloads.cancel_booking(b.id),
                      description="Tap to cancel") for b in bookings[:MAX_ROWS]]
    return OutboundReply(text="Your upcoming classes:\n" + "\n".join(lines),
                         parts=[PickList(button="Cancel a booking", options=options)])


def cancel_prompt(booking: Booking) -> OutboundReply:
    slot = booking.slot
    return OutboundReply(
        text=f"Cancel {slot.title} on {when(slot.starts_at)}?",
        parts=[QuickReplies(options=[
            Option(title="Yes, cancel it", payload=payloads.confirm_cancel(booking.id)),
            Option(title="No, keep it", payload=payloads.CANCEL_FLOW),
        ])])


def cancel_result_reply(result: CancelResult) -> OutboundReply:
    if result.booking is None or result.outcome is CancelOutcome.NOT_FOUND:
        return OutboundReply(text="I couldn't find that booking.")
    name = f"{result.booking.slot.title} on {when(result.booking.slot.starts_at)}"
    if result.outcome is CancelOutcome.STARTED:
        return OutboundReply(text=f"{name} has already started, so it can't be cancelled.")
    text = (f"Done, {name} is cancelled." if result.outcome is CancelOutcome.CANCELLED
            else f"{name} was already cancelled.")
    if result.late:
        text += " It's within 12 hours of the class, so it counts as a late cancellation."
    return OutboundReply(text=text)


def plans_reply(plans: list[Plan]) -> OutboundReply:
    """Plans as a carousel of cards."""
    if not plans:
        return OutboundReply(text="Plans aren't published yet; the front desk can help.")
    cards = [Card(title=f"{p.name} · {p.price_label()}",
                  body="\n".join([p.description, *(f"• {perk}" for perk in p.perks)]).strip(),
                  buttons=[Option(title="Tell me more", payload=payloads.plan(p.slug))])
             for p in plans[:MAX_ROWS]]
    summary = "\n".join(f"• {p.name}: {p.price_label()}" for p in plans[:MAX_ROWS])
    return OutboundReply(text="Our plans:\n" + summary, parts=[Carousel(cards=cards)])


def opening_hours_reply(hours: list[OpeningHours]) -> OutboundReply:
    if not hours:
        return OutboundReply(text="Opening hours aren't published yet; the front desk can help.")
    lines = []
    for h in hours:
        note = f" ({h.note})" if h.note else ""
        lines.append(f"• {WEEKDAYS[h.weekday - 1]}: {clock(h.opens)}–{clock(h.closes)}{note}")
    return OutboundReply(text="Our opening hours:\n" + "\n".join(lines))
