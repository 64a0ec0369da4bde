"""Where staff see and answer handed-off conversations.

The Slack console posts one message per handoff with buttons and mirrors the
conversation in its thread; without Slack, `LogConsole` only logs, and staff work
from the `bot handoffs` commands (and the admin dashboard) which read the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class HandoffView:
    """What the console shows about one handoff (no raw internal ids for people)."""

    id: UUID
    conversation_id: UUID
    contact_id: UUID
    display_name: str
    channel: str
    status: str
    trigger: str
    reason: str
    summary: str
    created_at: datetime
    staff: str | None = None
    recent: list[str] = field(default_factory=list)
    console: dict[str, str] = field(default_factory=dict)


class HandoffConsole(Protocol):
    """A place staff are told about handoffs and answer them."""

    async def announce(self, handoff: HandoffView) -> dict[str, str]:
        """Post a new handoff; returns references to store (e.g. Slack channel and ts)."""
        ...

    async def mirror(self, handoff: HandoffView, author: str, text: str) -> None:
        """Copy a message of the conversation to the console."""
        ...

    async def notice(self, handoff: HandoffView, text: str) -> None:
        """A status line for staff: claimed, reminders, delivery problems."""
        ...


class LogConsole:
    """No console configured: log only; staff use `bot handoffs` or the dashboard."""

    async def announce(self, handoff: HandoffView) -> dict[str, str]:
        log.info("handoff_waiting", handoff_id=str(handoff.id), trigger=handoff.trigger)
        return {}

    async def mirror(self, handoff: HandoffView, author: str, text: str) -> None:
        log.info("handoff_message", handoff_id=str(handoff.id), author=author)

    async def notice(self, handoff: HandoffView, text: str) -> None:
        log.info("handoff_notice", handoff_id=str(handoff.id), notice=text)
