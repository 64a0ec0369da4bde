"""The respond stage: what produces the words of a reply for a routed turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from bot.classify import Classification
from bot.db.pool import Conn
from bot.models import EventName, OutboundReply
from bot.sessions import SessionInfo

Emit = Callable[[EventName, dict[str, Any]], Awaitable[None]]
#: A row a responder leaves for the turn's final transaction (see `TurnContext.deferred`).
DeferredWrite = Callable[[Conn], Awaitable[None]]


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
    #: Where a responder leaves rows to store with the turn's reply, in the same
    #: transaction (the agent's `app.llm_calls` records): no round trip of their own. If
    #: the turn fails they are stored with its failure instead; a process killed mid-turn
    #: loses them. None (a responder called on its own): rows are written at once.
    deferred: list[DeferredWrite] | None = None
    #: what the pipeline's `TurnPrefetch` read with the turn's opening round trip (the
    #: agent's `TurnReads`); None: the responder reads what it needs itself
    prefetched: object | None = None
    #: the channel shows the reply while it is being written (web chat, Slack); when it
    #: does not (WhatsApp sends it whole), an LLM responder asks for it whole, unstreamed
    shows_text_as_written: bool = True


class Responder(Protocol):
    """Produces the reply to one turn; may stream progress through `emit`."""

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply: ...
