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
    #: the session the conversation was in when it was handed over
    session_id: UUID | None = None


@dataclass(frozen=True)
class StaffResult:
    """What a staff action did, for the console or CLI to report."""

    ok: bool
    text: str
    handoff: HandoffView | None = None


class StaffActions(Protocol):
    """What staff do in a console; `HandoffService` provides it, a console calls it."""

    async def view(self, handoff_id: UUID) -> HandoffView: ...

    async def find_by_console(self, key: str, value: str) -> HandoffView | None: ...

    async def claim(self, handoff_id: UUID, staff: str) -> StaffResult: ...

    async def reply(self, handoff_id: UUID, staff: str, text: str, *,
                    source: str | None = None) -> StaffResult: ...

    async def finish(self, handoff_id: UUID, staff: str, *,
                     back_to_bot: bool) -> StaffResult: ...


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
