"""Fake intent models for pipeline tests (fakes, not mocks)."""

from __future__ import annotations

from bot.intents.contract import Classification, LLMGate, TurnScope


class ScheduleIntent:
    """Every message is `class_schedule`, the fixture bot's agent-routed intent."""

    async def classify(self, text: str, *, previous_intent: str | None = None,
                       payload: str | None = None, scope: TurnScope | None = None,
                       llm_gate: LLMGate | None = None) -> Classification:
        return Classification("class_schedule", 0.99, "local")
