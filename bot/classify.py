"""The classify stage: which intent a message expresses, and how sure we are."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from bot.db.pool import Conn


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


async def previous_intent(conn: Conn, session_id: UUID,
                          skip: Sequence[str] = ()) -> str | None:
    """The intent of the session's last classified turn (not one of `skip`), for
    follow-up inheritance."""
    cur = await conn.execute(
        "SELECT ic.intent FROM app.intent_classifications ic"
        " JOIN app.messages m ON m.id = ic.message_id"
        " WHERE m.session_id = %s AND NOT (ic.intent = ANY(%s))"
        " ORDER BY ic.id DESC LIMIT 1",
        (session_id, list(skip)),
    )
    row = await cur.fetchone()
    return None if row is None else str(row["intent"])


async def store_classification(
    conn: Conn, *, contact_id: UUID, message_id: int, result: Classification
) -> None:
    await conn.execute(
        "INSERT INTO app.intent_classifications"
        " (contact_id, message_id, intent, confidence, method, alternatives, latency_ms)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)",
        (
            contact_id, message_id, result.intent, result.confidence, result.method,
            json.dumps([{"intent": i, "confidence": c} for i, c in result.alternatives]),
            result.latency_ms,
        ),
    )
