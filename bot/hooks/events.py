"""The events the bot tells operators' systems about, and their JSON form.

Payloads carry ids, channel names, intents and staff names, never message text,
phone numbers or other personal data: receivers look details up in the dashboard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, Field

EventType = Literal[
    "handoff.created", "handoff.claimed", "handoff.resolved", "turn.failed",
    "cost.threshold_crossed", "security.event", "contact.opted_out", "contact.opted_in",
]


class HookEvent(BaseModel):
    """One event as POSTed to every receiver (the request body)."""

    id: UUID = Field(default_factory=uuid4, description="Same for every receiver and retry")
    type: EventType
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict)

    def summary(self) -> str:
        """One line for a chat channel."""
        details = ", ".join(f"{k}={v}" for k, v in sorted(self.data.items()) if v is not None)
        return f":rotating_light: *{self.type}* {details}".strip()
