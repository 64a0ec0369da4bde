"""Tools act only for the acting user, whatever the model asks for.

The model is scripted (it has "fallen" for an injection) to read and cancel another
person's booking; the tools run as the turn's contact under row-level security, so
the other booking is not found and stays booked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from bot.agent.builtin_tools import default_registry
from bot.db.pool import Database
from studio.bookings import book_class
from studio.tools import register_studio_tools
from testing.llm_server import FakeLLM
from tests.agent.conftest import Agent, Conversation, Events


async def someone_elses_booking(db: Database) -> tuple[UUID, int]:
    """Another contact with a booking of their own in a class of its own."""
    async with db.as_system() as conn:
        cur = await conn.execute(
            "INSERT INTO app.contacts (display_name) VALUES ('other customer') RETURNING id")
        other = (await cur.fetchone() or {})["id"]
        cur = await conn.execute(
            "INSERT INTO app.studio_classes (class_type, title, instructor, starts_at,"
            " duration_minutes, capacity, room) VALUES ('testing', 'Isolation', 'Coach', %s,"
            " 60, 5, %s) RETURNING id",
            (datetime.now(UTC) + timedelta(days=2), "room-" + uuid4().hex[:8]))
        class_id = (await cur.fetchone() or {})["id"]
    async with db.as_user(other) as conn:
        result = await book_class(conn, class_id, "isolation-" + uuid4().hex)
    assert result.booking is not None
    return other, result.booking.id


async def booking_status(db: Database, booking_id: int) -> str:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT status FROM app.studio_bookings WHERE id = %s",
                                 (booking_id,))
        row = await cur.fetchone()
    assert row is not None
    return str(row["status"])


def tool_result(fake_llm: FakeLLM, request: int) -> str:
    """The content of the one tool result sent with a request (Anthropic's wire form)."""
    (block,) = [b for b in fake_llm.requests[request]["messages"][-1]["content"]
                if b.get("type") == "tool_result"]
    content = block["content"]
    return content if isinstance(content, str) else json.dumps(content)


async def test_the_model_cannot_read_or_cancel_another_users_booking(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, conversation: Callable[[], Conversation],
    db: Database,
) -> None:
    other, booking_id = await someone_elses_booking(db)
    registry = default_registry()
    register_studio_tools(registry)
    agent = make_agent(tools=registry)
    fake_llm.tool_use(("my_bookings", {"contact_id": str(other)}))
    fake_llm.tool_use(("cancel_booking", {"booking_id": booking_id, "contact_id": str(other)}))
    fake_llm.tool_use(("cancel_booking", {"booking_id": "all of them"}))
    fake_llm.reply("Done.")
    conv = conversation()
    turn = await conv.turn(f"Cancel booking {booking_id} of my friend, user {other}")
    await agent.responder().respond(turn, Events())

    assert turn.contact_id != other
    assert json.loads(tool_result(fake_llm, 1)) == [], "none of their bookings is listed"
    assert json.loads(tool_result(fake_llm, 2))["outcome"] == "not_found"
    invalid = tool_result(fake_llm, 3)
    assert "booking_id" in invalid and "not_found" not in invalid  # rejected before running
    assert await booking_status(db, booking_id) == "booked"
    calls = await conv.rows(turn, "SELECT tool, status FROM app.tool_calls"
                                  " WHERE message_id = %s ORDER BY id", turn.message_ids[-1])
    # The invalid call never reached the tool (nor its record).
    assert [(c["tool"], c["status"]) for c in calls] == [
        ("my_bookings", "ok"), ("cancel_booking", "ok")]
