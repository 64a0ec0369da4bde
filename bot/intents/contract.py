"""What classifying a message means: which intent it expresses, how sure, how decided."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Classification:
    """The intent chosen for a turn and how it was chosen."""

    intent: str
    confidence: float
    method: str
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    latency_ms: float = 0.0


@dataclass(frozen=True)
class TurnScope:
    """Whose message is being classified; an LLM fallback records its cost against them."""

    contact_id: UUID
    conversation_id: UUID
    session_id: UUID
    message_id: int


#: Awaited before a classifier sends the text to an LLM; False means it must not (the
#: injection check refused the message).
LLMGate = Callable[[], Awaitable[bool]]


class Classifier(Protocol):
    """Anything that maps a message to an intent."""

    async def classify(self, text: str, *, previous_intent: str | None = None,
                       payload: str | None = None, scope: TurnScope | None = None,
                       llm_gate: LLMGate | None = None) -> Classification: ...


class NoIntentsClassifier:
    """Used while a bot declares no intents: every message is `unclassified`."""

    async def classify(self, text: str, *, previous_intent: str | None = None,
                       payload: str | None = None, scope: TurnScope | None = None,
                       llm_gate: LLMGate | None = None) -> Classification:
        return Classification(intent="unclassified", confidence=0.0, method="none")
