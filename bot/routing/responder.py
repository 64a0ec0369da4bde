"""The responder contract: what a responder gets (the turn it answers, where to report
progress, where to leave rows) and how it says a turn should be tried again.

A responder (a direct handler, the agent, a plugin's handler) produces the words of a
reply for a routed turn; this is its whole view of the turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from bot.db.conversations import SessionInfo
from bot.db.pool import Conn
from bot.intents.contract import Classification
from bot.models import EventName, OutboundReply

T = TypeVar("T")
Emit = Callable[[EventName, dict[str, Any]], Awaitable[None]]
#: A row to write in the turn's final transaction (see `TurnContext.rows`).
RowWrite = Callable[[Conn], Awaitable[None]]


class TurnRows(Protocol):
    """Where rows go that belong to the turn's final transaction (the turn's unit)."""

    def write(self, row: RowWrite) -> None: ...


class ReadKey(Generic[T]):
    """Names one kind of read made in the turn's opening round trip, with its type."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ReadKey({self.name!r})"


class OpeningReadResults:
    """What `OpeningReads` read with the turn's opening round trip, by key."""

    def __init__(self) -> None:
        self._found: dict[ReadKey[Any], Any] = {}

    def put(self, key: ReadKey[T], value: T) -> None:
        self._found[key] = value

    def get(self, key: ReadKey[T]) -> T | None:
        found: T | None = self._found.get(key)
        return found


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
    rows: TurnRows | None = None
    #: what was read for responders with the turn's opening round trip (`OpeningReads`);
    #: a key missing: the responder reads what it needs itself
    reads: OpeningReadResults = field(default_factory=OpeningReadResults)
    #: the channel shows the reply while it is being written (web chat, Slack); when it
    #: does not (WhatsApp sends it whole), an LLM responder asks for it whole, unstreamed
    shows_text_as_written: bool = True


class Responder(Protocol):
    """Produces the reply to one turn; may stream progress through `emit`."""

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply: ...


@runtime_checkable
class UnhelpfulAnswers(Protocol):
    """Declared by responders whose answers do not help ("not something I can do", "did
    you mean…?"): the session counts them, and enough in a row bring in a person."""

    unhelpful_answers: bool


class TurnRetryLater(Exception):
    """A failure worth another attempt later (a busy model): `retry_after_s` asks for a
    wait, `user_text` is what the user reads if every attempt fails (never the error)."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None,
                 user_text: str | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s
        self.user_text = user_text
