"""The studio flow as the bot definition's offline handlers (`offline_handler:` names).

`studio_handlers(flow)` is merged into the built-in handlers when the example bot
runs without an LLM. Each handler first answers a tapped studio option, then the
text. The idempotency key of a turn is its inbound message, so a turn re-run after
a crash confirms the same booking instead of making another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from bot.models import OutboundReply
from bot.routing.responder import Emit, Responder, TurnContext
from studio.flow import StudioFlow

Step = Callable[[UUID, str, str], Awaitable[OutboundReply]]


def turn_key(turn: TurnContext) -> str:
    """The idempotency key of a turn's side effects: its (last) inbound message."""
    return f"turn:{turn.message_ids[-1]}" if turn.message_ids else f"turn:{turn.session.id}"


class StudioHandler:
    """One studio step behind the `Responder` protocol."""

    def __init__(self, flow: StudioFlow, step: Step) -> None:
        self.flow = flow
        self.step = step

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        key = turn_key(turn)
        tapped = await self.flow.handle_payload(turn.contact_id, turn.payload, key)
        if tapped is not None:
            return tapped
        return await self.step(turn.contact_id, turn.text, key)


def studio_handlers(flow: StudioFlow) -> dict[str, Responder]:
    """Handlers by the names bots/studio/bot.yaml uses for its offline routes."""

    async def schedule(contact: UUID, text: str, key: str) -> OutboundReply:
        return await flow.schedule(contact, text)

    async def bookings(contact: UUID, text: str, key: str) -> OutboundReply:
        return await flow.my_bookings(contact)

    async def plans(contact: UUID, text: str, key: str) -> OutboundReply:
        return await flow.plans(contact)

    async def hours(contact: UUID, text: str, key: str) -> OutboundReply:
        return await flow.opening_hours(contact)

    async def faq(contact: UUID, text: str, key: str) -> OutboundReply:
        return await flow.answer(contact, text)

    async def confirm(contact: UUID, text: str, key: str) -> OutboundReply:
        return await flow.confirm(contact, key)

    async def decline(contact: UUID, text: str, key: str) -> OutboundReply:
        return await flow.decline(contact)

    steps: dict[str, Step] = {
        "class_schedule": schedule, "book_class": flow.book, "cancel_booking": flow.cancel,
        "my_bookings": bookings, "membership_plans": plans, "opening_hours": hours,
        "faq": faq, "studio_confirm": confirm, "studio_decline": decline,
    }
    return {name: StudioHandler(flow, step) for name, step in steps.items()}
