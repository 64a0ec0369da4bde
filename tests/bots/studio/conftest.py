"""Factories for studio tests: contacts and classes of their own in the shared database;
the agent tests' fake provider for the conversation driven by the agent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bot.db.pool import Database
from tests.agent.conftest import agent_settings, fake_llm, llm_server  # noqa: F401 (fixtures)

ContactFactory = Callable[[], Awaitable[UUID]]
ClassFactory = Callable[..., Awaitable[int]]


@pytest.fixture
def make_contact(db: Database) -> ContactFactory:
    async def build() -> UUID:
        async with db.as_system() as conn:
            cur = await conn.execute(
                "INSERT INTO app.contacts (display_name) VALUES ('studio test') RETURNING id")
            row = await cur.fetchone()
        assert row is not None
        contact: UUID = row["id"]
        return contact
    return build


@pytest.fixture
def make_class(db: Database) -> ClassFactory:
    """A class in a room of its own, so tests never share seats, of a type the seed
    has not, so it never shows in listings of the demo timetable."""
    async def build(*, capacity: int = 10, starts_in: timedelta = timedelta(days=2),
                    class_type: str = "testing", title: str = "Test Class") -> int:
        async with db.as_system() as conn:
            cur = await conn.execute(
                "INSERT INTO app.studio_classes (class_type, title, instructor, starts_at,"
                " duration_minutes, capacity, room) VALUES (%s, %s, 'Test Coach', %s, 60, %s, %s)"
                " RETURNING id",
                (class_type, title, datetime.now(UTC) + starts_in, capacity,
                 "room-" + uuid4().hex[:8]))
            row = await cur.fetchone()
        assert row is not None
        class_id: int = row["id"]
        return class_id
    return build
