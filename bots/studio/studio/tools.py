"""The studio's agent tools: the same domain functions the offline handlers use.

The acting person comes from the tool context (its unit of work is scoped to them by
row-level security); booking and cancelling use the context's idempotency key, so a
turn re-run after a crash does not book twice. Listings also suggest the offline
replies' rich parts (a pick list of classes, plan cards) for the agent's answer, so
each channel shows them natively whichever path answered.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.agent.tools import ToolContext, ToolError, ToolRegistry
from studio import bookings, render, schedule
from studio.models import BookClassInput, CancelBookingInput, ScheduleQuery


class NoInput(BaseModel):
    """This tool takes no arguments."""


def _slot(slot: Any) -> dict[str, Any]:
    return {"class_id": slot.id, "type": slot.class_type, "title": slot.title,
            "instructor": slot.instructor, "starts_at": slot.starts_at.isoformat(),
            "minutes": slot.duration_minutes, "room": slot.room, "seats_left": slot.seats_left}


def register_studio_tools(registry: ToolRegistry) -> None:
    @registry.tool(side_effects=False, title="the class schedule")
    async def list_schedule(args: ScheduleQuery, ctx: ToolContext) -> list[dict[str, Any]]:
        """Classes on the schedule, filtered by day, local start times and class type."""
        async with ctx.unit_of_work() as conn:
            slots = await schedule.list_schedule(conn, args)
        ctx.turn.suggest("list_schedule", render.schedule_reply(slots).parts)
        return [_slot(s) for s in slots]

    @registry.tool(side_effects=False, title="your bookings")
    async def my_bookings(args: NoInput, ctx: ToolContext) -> list[dict[str, Any]]:
        """The person's upcoming booked classes (booking ids are for cancelling)."""
        async with ctx.unit_of_work() as conn:
            mine = await bookings.my_bookings(conn)
        ctx.turn.suggest("my_bookings", render.bookings_reply(mine).parts)
        return [{"booking_id": b.id, "status": b.status, **_slot(b.slot)} for b in mine]

    @registry.tool(side_effects=True, title="the booking system")
    async def book_class(args: BookClassInput, ctx: ToolContext) -> dict[str, Any]:
        """Book the person into a class by its class_id (confirm with them first)."""
        if ctx.idempotency_key is None:
            raise ToolError("booking needs an idempotency key")
        async with ctx.unit_of_work() as conn:
            result = await bookings.book_class(conn, args.class_id, ctx.idempotency_key)
        return {"outcome": result.outcome.value,
                "class": _slot(result.slot) if result.slot else None}

    @registry.tool(side_effects=True, title="the booking system")
    async def cancel_booking(args: CancelBookingInput, ctx: ToolContext) -> dict[str, Any]:
        """Cancel one of the person's bookings by booking_id (confirm with them first)."""
        if ctx.idempotency_key is None:
            raise ToolError("cancelling needs an idempotency key")
        async with ctx.unit_of_work() as conn:
            result = await bookings.cancel_booking(conn, args.booking_id, ctx.idempotency_key)
        return {"outcome": result.outcome.value, "late": result.late}

    @registry.tool(side_effects=False, title="the membership plans")
    async def list_plans(args: NoInput, ctx: ToolContext) -> list[dict[str, Any]]:
        """Membership plans and passes with prices and perks."""
        async with ctx.unit_of_work() as conn:
            plans = await schedule.list_plans(conn)
        ctx.turn.suggest("list_plans", render.plans_reply(plans).parts)
        return [{"name": p.name, "price": p.price_label(), "description": p.description,
                 "perks": p.perks} for p in plans]

    @registry.tool(side_effects=False, title="the opening hours")
    async def opening_hours(args: NoInput, ctx: ToolContext) -> list[dict[str, Any]]:
        """The studio's regular opening hours per weekday (1 = Monday)."""
        async with ctx.unit_of_work() as conn:
            return [h.model_dump(mode="json") for h in await schedule.opening_hours(conn)]
