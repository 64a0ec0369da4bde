"""A stage of the turn, the turn it works on, and the outcomes that end a turn.

A stage is one async method: it looks at the turn, may change it (the text, the intent,
the reply), may add rows to its unit, and returns either nothing (go on) or an outcome
that ends the turn. The pipeline stores the outcome, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.channels import ChannelTraits
from bot.db.conversations import SessionInfo
from bot.intents.contract import Classification, TurnScope
from bot.models import OutboundReply, StoredInbound
from bot.routing.responder import OpeningReadResults, TurnContext
from bot.safety.injection import InjectionVerdict
from bot.turn.progress import Progress
from bot.turn.unit import TurnUnit


@dataclass(frozen=True)
class Answer:
    """The turn is answered with `reply` (the usual end, and every early answer)."""

    reply: OutboundReply
    classification: Classification
    #: the answer did not help (counts toward handing the conversation to a person)
    unhelpful: bool = False


@dataclass(frozen=True)
class Skip:
    """Stored, deliberately not answered (a rate limit's further messages)."""

    reason: str


@dataclass(frozen=True)
class Relay:
    """A person has the conversation: the messages are shown to staff, not answered."""

    classification: Classification


Outcome = Answer | Skip | Relay


def guarded(intent: str) -> Classification:
    """The classification of a turn a guard answered before any classifier ran."""
    return Classification(intent=intent, confidence=1.0, method="guard")


@dataclass
class Turn:
    """One turn on its way through the stages: what it started from, what they decided."""

    batch: list[StoredInbound]
    traits: ChannelTraits
    session: SessionInfo
    history: list[dict[str, Any]]
    previous_intent: str | None
    #: the contact was opted out when the turn opened
    opted_out: bool
    reads: OpeningReadResults
    unit: TurnUnit
    progress: Progress
    #: the turn's messages as received, joined
    raw_text: str
    payload: str | None
    #: the text once the input guard has normalised it ("" until then)
    text: str = ""
    #: the injection detector's verdict when it flagged the text
    injection: InjectionVerdict | None = None
    classification: Classification | None = None
    reply: OutboundReply | None = None
    unhelpful: bool = False
    #: what the stages measured, for the log line of the turn
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> StoredInbound:
        return self.batch[-1]

    @property
    def message_ids(self) -> list[int]:
        return [m.id for m in self.batch]

    def scope(self) -> TurnScope:
        last = self.last
        return TurnScope(last.contact_id, last.conversation_id, self.session.id, last.id)

    def context(self) -> TurnContext:
        """The responder's view of the turn (once it is classified)."""
        assert self.classification is not None, "a turn is classified before it is answered"
        last = self.last
        return TurnContext(
            contact_id=last.contact_id, conversation_id=last.conversation_id,
            channel=last.channel, message_ids=self.message_ids, text=self.text,
            payload=self.payload, session=self.session, classification=self.classification,
            history=self.history, untrusted=self.injection is not None, rows=self.unit,
            reads=self.reads, shows_text_as_written=self.progress.shows_text_as_written)

    def answer(self) -> Answer:
        """The outcome of a turn every stage let through: its reply."""
        assert self.reply is not None and self.classification is not None, \
            "the respond stage sets the reply"
        return Answer(self.reply, self.classification, unhelpful=self.unhelpful)


class Stage(Protocol):
    """One step of the turn; returns an outcome to end the turn there, or None."""

    async def run(self, turn: Turn) -> Outcome | None: ...
