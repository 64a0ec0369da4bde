"""The respond stage: what produces the words of a reply for a routed turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from bot.classify import Classification
from bot.models import EventName, OutboundReply
from bot.sessions import SessionInfo

Emit = Callable[[EventName, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class TurnContext:
    """Everything a responder may use about the turn it answers."""

    contact_id: UUID
    conversation_id: UUID
    channel: str
    message_ids: list[int]
    text: str
    payload: str | None
    session: SessionInfo
    classification: Classification
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The guard flagged the text as a possible prompt injection: an LLM responder must
    #: treat it as quoted data and must not act (no side-effecting tools) on this turn.
    untrusted: bool = False


class Responder(Protocol):
    """Produces the reply to one turn; may stream progress through `emit`."""

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply: ...
