"""Hybrid intent classification: local model first, the LLM only when unsure.

    payload of a tapped option            → that intent            (method "payload")
    local confidence ≥ threshold          → local answer           (method "local")
    unsure, short, continues last turn    → previous intent        (method "inherited")
    unsure, LLM configured and answering  → LLM's choice           (method "llm")
    unsure, no LLM or LLM failed          → "Did you mean …?"      (method "clarified")
    below the out-of-scope threshold      → out_of_scope           (method "local")
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from typing import Protocol

import structlog

from bot.definition import BotDefinition, IntentSpec
from bot.definition.builtin import CLARIFY, OUT_OF_SCOPE
from bot.intents.contract import Classification, LLMGate, TurnScope

log = structlog.get_logger(__name__)

INTENT_PAYLOAD = "intent:"
_CONTINUATION = re.compile(
    r"^(and|also|what about|how about|and what about|same for|what if|or|then|ok and|"
    r"what about on|and on|and for)\b", re.IGNORECASE)


class Scored(Protocol):
    """A label with a calibrated probability."""

    @property
    def label(self) -> str: ...

    @property
    def confidence(self) -> float: ...


class LocalModel(Protocol):
    """The fast local classifier (trained from the definition's examples)."""

    def predict(self, text: str, k: int = 3) -> Sequence[Scored]: ...

    def close(self) -> None:
        """Free what the model holds (its encoder session)."""


class IntentLLM(Protocol):
    """A fast LLM constrained to answer with one of the given intent names.

    `options` are (name, description) pairs; `scope` is whose message it is (the call's
    cost is theirs). None means no answer; an exception means the LLM failed.
    """

    async def choose_intent(self, text: str, options: Sequence[tuple[str, str]], *,
                            scope: TurnScope | None = None) -> str | None: ...


def looks_like_followup(text: str, max_words: int) -> bool:
    """A short message that reads as continuing the previous request."""
    words = text.split()
    if not words or len(words) > max_words:
        return False
    return bool(_CONTINUATION.match(text.strip())) or len(words) <= 3


class HybridClassifier:
    """The classifier the pipeline uses; see the module docstring for the order."""

    def __init__(self, definition: BotDefinition, local: LocalModel,
                 llm: IntentLLM | None = None) -> None:
        self.definition = definition
        self.local = local
        self.llm = llm
        self.settings = definition.classifier
        self._by_name = {i.name: i for i in definition.intents}

    def close(self) -> None:
        """Free the local model's memory (at process or runtime stop)."""
        self.local.close()

    def _from_payload(self, payload: str | None) -> IntentSpec | None:
        if not payload:
            return None
        if payload.startswith(INTENT_PAYLOAD):
            return self._by_name.get(payload[len(INTENT_PAYLOAD):])
        for intent in self.definition.intents:
            if any(payload.startswith(prefix) for prefix in intent.payloads):
                return intent
        return None

    async def classify(self, text: str, *, previous_intent: str | None = None,
                       payload: str | None = None, scope: TurnScope | None = None,
                       llm_gate: LLMGate | None = None) -> Classification:
        """Classify `text`; `llm_gate`, when given, must return True before the text may
        go to the LLM (the local model runs without waiting for it)."""
        started = time.perf_counter()

        def done(intent: str, confidence: float, method: str,
                 alternatives: list[tuple[str, float]]) -> Classification:
            return Classification(intent, confidence, method, alternatives,
                                  (time.perf_counter() - started) * 1000)

        tapped = self._from_payload(payload)
        if tapped is not None:
            return done(tapped.name, 1.0, "payload", [(tapped.name, 1.0)])

        predictions = await asyncio.to_thread(self.local.predict, text, 3)
        alternatives = [(p.label, round(float(p.confidence), 4)) for p in predictions]
        top_label, top = alternatives[0] if alternatives else (OUT_OF_SCOPE, 0.0)
        if top >= self.settings.confidence_threshold and top_label in self._by_name:
            return done(top_label, top, "local", alternatives)

        previous = self._by_name.get(previous_intent or "")
        if (previous is not None and previous.inheritable
                and looks_like_followup(text, self.settings.followup_max_words)):
            return done(previous.name, top, "inherited", alternatives)

        if self.llm is not None and (llm_gate is None or await llm_gate()):
            choice = await self._ask_llm(text, scope)
            if choice is not None:
                return done(choice, top, "llm", alternatives)

        in_scope = [(label, c) for label, c in alternatives
                    if label != OUT_OF_SCOPE and label in self._by_name]
        if top_label != OUT_OF_SCOPE and top >= self.settings.out_of_scope_threshold and in_scope:
            return done(CLARIFY, top, "clarified", in_scope)
        return done(OUT_OF_SCOPE, top, "local", alternatives)

    async def _ask_llm(self, text: str, scope: TurnScope | None) -> str | None:
        assert self.llm is not None
        options = [(i.name, i.description or i.display_title) for i in self.definition.intents]
        try:
            choice = await self.llm.choose_intent(text, options, scope=scope)
        except Exception as exc:
            log.warning("intent_llm_failed", error=type(exc).__name__)
            return None
        return choice if choice in self._by_name else None
