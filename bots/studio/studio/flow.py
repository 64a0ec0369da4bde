"""The studio's conversation steps without an LLM: schedule, book, cancel, plans, hours, FAQ.

Each step takes the acting contact, the message text and/or a tapped payload, and
returns the reply; it runs its reads and writes in one `Database.as_user` unit of
work. A side effect (booking, cancelling) always goes through a confirmation with
quick replies first; the confirming turn supplies the idempotency key, so a turn
re-run after a crash does not book twice. The router decides which step a turn
goes to (intent or payload); `handle_payload` covers every payload the studio
replies carry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from bot.db.pool import Conn, Database
from bot.intents.yesno import is_affirmative, is_negative
from bot.knowledge.render import TOPIC_PAYLOAD, answer_reply
from bot.knowledge.search import search_knowledge
from bot.models import OutboundReply
from studio import bookings as booking_ops
from studio import payloads, render
from studio.extract import (
    extract_schedule_query,
    referent_from_slot,
    resolve_reference,
)
from studio.flow_state import FlowState, PendingAction, load_state, save_state
from studio.models import Booking, ClassSlot, ScheduleQuery, studio_zone
from studio.schedule import get_class, list_plans, list_schedule, opening_hours


class StudioFlow:
    """Offline handlers of the example studio bot, one method per intent."""

    def __init__(self, db: Database, *, tz: ZoneInfo | None = None,
                 kb_collection: str = "default", kb_min_confidence: float = 0.5,
                 kb_results: int = 3, today: Callable[[], date] | None = None) -> None:
        self.db = db
        self.tz = tz or studio_zone()
        self.kb_collection = kb_collection
        self.kb_min_confidence = kb_min_confidence
        self.kb_results = kb_results
        self._today = today or (lambda: datetime.now(self.tz).date())

    # --- reading
    async def schedule(self, contact_id: UUID, text: str) -> OutboundReply:
        query = extract_schedule_query(text, self._today())
        async with self.db.as_user(contact_id) as conn:
            query, slots = await self._find_classes(conn, query, text)
            state = await load_state(conn)
            state.listed_classes = [s.id for s in slots[:render.MAX_ROWS]]
            await save_state(conn, state)
        return render.schedule_reply(slots, describe(query))

    async def plans(self, contact_id: UUID) -> OutboundReply:
        async with self.db.as_user(contact_id) as conn:
            return render.plans_reply(await list_plans(conn))

    async def opening_hours(self, contact_id: UUID) -> OutboundReply:
        async with self.db.as_user(contact_id) as conn:
            return render.opening_hours_reply(await opening_hours(conn))

    async def my_bookings(self, contact_id: UUID) -> OutboundReply:
        async with self.db.as_user(contact_id) as conn:
            found = await booking_ops.my_bookings(conn, tz=self.tz)
            state = await load_state(conn)
            state.listed_bookings = [b.id for b in found[:render.MAX_ROWS]]
            await save_state(conn, state)
        return render.bookings_reply(found)

    async def answer(self, contact_id: UUID, text: str) -> OutboundReply:
        """A question for the knowledge base: the top passage with its source, or ask back."""
        async with self.db.as_user(contact_id) as conn:
            result = await search_knowledge(conn, text, self.kb_results,
                                            collection=self.kb_collection)
        return answer_reply(result, self.kb_min_confidence)

    # --- booking and cancelling: choose, confirm, act
    async def book(self, contact_id: UUID, text: str, idempotency_key: str) -> OutboundReply:
        """Work out which class is meant; ask to confirm it, or show the candidates.

        A plain yes or no while a confirmation is open answers that confirmation.
        """
        answered = await self._answer_pending(contact_id, text, idempotency_key)
        if answered is not None:
            return answered
        async with self.db.as_user(contact_id) as conn:
            state = await load_state(conn)
            listed = [s for s in [await get_class(conn, i, self.tz)
                                  for i in state.listed_classes] if s is not None]
            query = extract_schedule_query(text, self._today())
            chosen = [listed[i] for i in resolve_reference(
                text, [referent_from_slot(s) for s in listed]) if _agrees(listed[i], query)]
            if not chosen:
                _, chosen = await self._find_classes(conn, query, text)
            if len(chosen) == 1:
                return await self._ask(conn, state, chosen[0])
            state.listed_classes = [s.id for s in chosen[:render.MAX_ROWS]]
            state.pending = None
            await save_state(conn, state)
        if not chosen:
            return OutboundReply(text="I couldn't find that class. Which day or type of class"
                                      " would you like?")
        return render.schedule_reply(chosen, "Which one would you like to book")

    async def cancel(self, contact_id: UUID, text: str, idempotency_key: str) -> OutboundReply:
        """Work out which booking is meant; ask to confirm, or list the person's bookings."""
        answered = await self._answer_pending(contact_id, text, idempotency_key)
        if answered is not None:
            return answered
        async with self.db.as_user(contact_id) as conn:
            state = await load_state(conn)
            mine = await booking_ops.my_bookings(conn, tz=self.tz)
            chosen = _matching_bookings(text, mine, state, self._today())
            if len(chosen) == 1:
                state.pending = PendingAction(action="cancel", id=chosen[0].id)
                await save_state(conn, state)
                return render.cancel_prompt(chosen[0])
            shown = chosen or mine
            state.listed_bookings = [b.id for b in shown[:render.MAX_ROWS]]
            state.pending = None
            await save_state(conn, state)
        return render.bookings_reply(shown)

    async def confirm(self, contact_id: UUID, idempotency_key: str) -> OutboundReply:
        """A plain "yes": carry out whatever is waiting for one."""
        async with self.db.as_user(contact_id) as conn:
            pending = (await load_state(conn)).pending
        if pending is None:
            return OutboundReply(text="There's nothing waiting for a yes right now."
                                      " What would you like to do?")
        if pending.action == "book":
            return await self._book(contact_id, pending.id, idempotency_key)
        return await self._cancel(contact_id, pending.id, idempotency_key)

    async def decline(self, contact_id: UUID) -> OutboundReply:
        async with self.db.as_user(contact_id) as conn:
            state = await load_state(conn)
            state.pending = None
            await save_state(conn, state)
        return OutboundReply(text="OK, I've left it as it was. Anything else?")

    async def handle_payload(self, contact_id: UUID, payload: str | None,
                             idempotency_key: str) -> OutboundReply | None:
        """The reply to a tapped studio option, or None when the payload is not ours."""
        if payload and payload.startswith(TOPIC_PAYLOAD):
            return await self.answer(contact_id, payload[len(TOPIC_PAYLOAD):])
        parsed = payloads.parse_payload(payload)
        if parsed is None:
            return None
        if parsed.action == "cancel_flow":
            return await self.decline(contact_id)
        if parsed.action == "plan":
            return await self.answer(contact_id, parsed.arg.replace("-", " ") + " plan")
        number = int(parsed.arg)
        if parsed.action == "confirm_book":
            return await self._book(contact_id, number, idempotency_key)
        if parsed.action == "confirm_cancel":
            return await self._cancel(contact_id, number, idempotency_key)
        async with self.db.as_user(contact_id) as conn:
            state = await load_state(conn)
            if parsed.action == "book":
                slot = await get_class(conn, number, self.tz)
                if slot is None:
                    return OutboundReply(text="I couldn't find that class any more.")
                return await self._ask(conn, state, slot)
            booking = await booking_ops.get_booking(conn, number, self.tz)
            if booking is None or booking.status != "booked":
                return OutboundReply(text="I couldn't find that booking.")
            state.pending = PendingAction(action="cancel", id=booking.id)
            await save_state(conn, state)
            return render.cancel_prompt(booking)

    # --- helpers
    async def _answer_pending(self, contact_id: UUID, text: str,
                              idempotency_key: str) -> OutboundReply | None:
        if is_affirmative(text) or is_negative(text):
            async with self.db.as_user(contact_id) as conn:
                pending = (await load_state(conn)).pending
            if pending is not None:
                if is_affirmative(text):
                    return await self.confirm(contact_id, idempotency_key)
                return await self.decline(contact_id)
        return None

    async def _find_classes(self, conn: Conn, query: ScheduleQuery,
                            text: str) -> tuple[ScheduleQuery, list[ClassSlot]]:
        slots = await list_schedule(conn, query, self.tz)
        # "yoga on Saturday" asked on a Saturday after the last class: next Saturday
        if not slots and query.day == self._today() and not re.search(
                r"\b(today|tonight|this)\b", text.lower()):
            query = query.model_copy(update={"day": query.day + timedelta(days=7)})
            slots = await list_schedule(conn, query, self.tz)
        return query, slots

    async def _ask(self, conn: Conn, state: FlowState, slot: ClassSlot) -> OutboundReply:
        state.pending = None if slot.full else PendingAction(action="book", id=slot.id)
        await save_state(conn, state)
        return render.booking_prompt(slot)

    async def _book(self, contact_id: UUID, class_id: int, key: str) -> OutboundReply:
        async with self.db.as_user(contact_id) as conn:
            result = await booking_ops.book_class(conn, class_id, key, self.tz)
            state = await load_state(conn)
            state.pending = None
            await save_state(conn, state)
        return render.booking_result_reply(result)

    async def _cancel(self, contact_id: UUID, booking_id: int, key: str) -> OutboundReply:
        async with self.db.as_user(contact_id) as conn:
            result = await booking_ops.cancel_booking(conn, booking_id, key, self.tz)
            state = await load_state(conn)
            state.pending = None
            await save_state(conn, state)
        return render.cancel_result_reply(result)


def _agrees(slot: ClassSlot, query: ScheduleQuery) -> bool:
    """Whether a listed class fits the day and type a message names ("yoga on Sunday"
    must not pick Saturday's yoga from the last list)."""
    return ((query.day is None or slot.starts_at.date() == query.day)
            and (query.class_type is None or slot.class_type == query.class_type))


def _matching_bookings(text: str, mine: list[Booking], state: FlowState,
                       today: date) -> list[Booking]:
    """The bookings a message points at: by position in the last list, day, type or time."""
    listed = [b for i in state.listed_bookings for b in mine if b.id == i]
    if listed:
        picked = resolve_reference(text, [referent_from_slot(b.slot) for b in listed])
        if len(picked) == 1 or (picked and len(picked) < len(listed)):
            return [listed[i] for i in picked]
    query = extract_schedule_query(text, today)
    found = [b for b in mine
             if (query.day is None or b.slot.starts_at.date() == query.day)
             and (query.class_type is None or b.slot.class_type == query.class_type)
             and (not query.at or b.slot.starts_at.time() in query.at)]
    filtered = query.day or query.class_type or query.at
    return found if filtered else []


def describe(query: ScheduleQuery) -> str:
    """A heading for a schedule listing: "Yoga classes on Saturday 28 Nov"."""
    kind = query.class_type or ""
    what = f"{'HIIT' if kind == 'hiit' else kind.capitalize()} classes" if kind else "Classes"
    if query.day is not None:
        what += f" on {query.day:%A} {query.day.day} {query.day:%b}"
    else:
        what += " coming up"
    if query.at:
        what += " at " + " or ".join(render.clock(t) for t in query.at)
    elif query.start_time and query.end_time:
        what += f" between {render.clock(query.start_time)} and {render.clock(query.end_time)}"
    elif query.start_time:
        what += f" from {render.clock(query.start_time)}"
    elif query.end_time:
        what += f" until {render.clock(query.end_time)}"
    return what
