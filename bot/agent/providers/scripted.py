"""A model that answers from a script: conversation tests (`bot test`) declare what the
model says at each step, so a bot's tool use is tested without a provider or a key.

Only the agent's answers are scripted. The intent classifier's fallback gets the intent a
step names (or no answer, so the local model's choice stands) and a history summary gets
a fixed line. A call with no scripted answer left is remembered, answered with a notice,
and reported by the test as a failure.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from bot.agent.budget import ModelTier
from bot.agent.history import SUMMARY_SYSTEM
from bot.agent.messages import LLMRequest, LLMResponse, OnText, ToolCall, Usage

NO_SCRIPT = "[the test scripted no model answer for this call]"


@dataclass(frozen=True)
class ScriptedAnswer:
    """One answer of the model: text, or a call of a tool with its arguments."""

    text: str = ""
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


class ScriptedProvider:
    """An `LLMProvider` whose answers a test hands it, step by step."""

    name = "scripted"

    def __init__(self) -> None:
        self.answers: deque[ScriptedAnswer] = deque()
        self.intent: str | None = None
        #: the last user text of each agent call that found no answer left
        self.unscripted: list[str] = []
        #: every request, in order (what the model was told, for tests)
        self.requests: list[LLMRequest] = []

    def script(self, answers: list[ScriptedAnswer], intent: str | None = None) -> None:
        """What the model says during the next step (what is left of the last is dropped)."""
        self.answers = deque(answers)
        self.intent = intent
        self.unscripted = []

    def model_for(self, tier: ModelTier) -> str:
        return f"scripted-{tier}"

    async def complete(self, request: LLMRequest, on_text: OnText | None) -> LLMResponse:
        self.requests.append(request)
        if request.force_tool is not None:  # the intent classifier's fallback
            calls = ([ToolCall(id=_call_id(), name=request.force_tool,
                               arguments={"intent": self.intent})] if self.intent else [])
            return LLMResponse(model=request.model, tool_calls=calls, usage=Usage())
        if request.system.startswith(SUMMARY_SYSTEM[:40]):  # a history summary
            return LLMResponse(model=request.model, text="(earlier turns)", usage=Usage())
        if not self.answers:
            last = request.messages[-1].text() if request.messages else ""
            self.unscripted.append(last)
            return LLMResponse(model=request.model, text=NO_SCRIPT, stop_reason="end_turn")
        answer = self.answers.popleft()
        if answer.tool is not None:
            return LLMResponse(model=request.model, stop_reason="tool_use", tool_calls=[
                ToolCall(id=_call_id(), name=answer.tool, arguments=answer.arguments)])
        if on_text is not None:
            await on_text(answer.text)
        return LLMResponse(model=request.model, text=answer.text, stop_reason="end_turn")

    async def aclose(self) -> None:
        return None


def _call_id() -> str:
    return "call_" + uuid4().hex[:12]
