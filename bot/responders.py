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


class Responder(Protocol):
    """Produces the reply to one turn; may stream progress through `emit`."""

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply: ...


class FixedHelpTextResponder:
    """A fixed help text, used until a bot definition provides intents and handlers.

    It is not an assistant: it only confirms the message was received and says what
    the bot is waiting for.
    """

    def __init__(self, bot_name: str) -> None:
        self.bot_name = bot_name

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        text = (
            f"Hi, this is {self.bot_name}. I received your message, but no bot definition "
            "with intents is loaded yet, so this is a fixed help text rather than an answer."
        )
        await emit("text_delta", {"text": text})
        return OutboundReply(text=text)
