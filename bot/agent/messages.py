"""The agent's one message and tool format; providers convert to and from it.

Kept deliberately small: text, tool calls and tool results are all the loop needs,
and each provider module maps them to its wire format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, Field


class TextPart(BaseModel):
    """Plain text said by the user or the model."""

    kind: Literal["text"] = "text"
    text: str


class ToolCall(BaseModel):
    """The model asks for a tool. `arguments` is None when they were not valid JSON."""

    kind: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] | None = None
    raw_arguments: str = ""


class ToolResult(BaseModel):
    """What a tool returned (or why it could not run), answering one ToolCall."""

    kind: Literal["tool_result"] = "tool_result"
    call_id: str
    content: str
    is_error: bool = False


Part = TextPart | ToolCall | ToolResult


class Message(BaseModel):
    """One message of the conversation as the model sees it."""

    role: Literal["user", "assistant"]
    parts: list[Part]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", parts=[TextPart(text=text)])

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls(role="assistant", parts=[TextPart(text=text)])

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


class ToolSpec(BaseModel):
    """A tool as the model sees it: name, description and JSON schema of its input."""

    name: str
    description: str
    input_schema: dict[str, Any]


class Usage(BaseModel):
    """Token counts as reported by the provider's response (never estimated)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reported: bool = True


class LLMRequest(BaseModel):
    """One call to a model."""

    model: str
    system: str
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    # "none": the tools stay declared (their calls are in the history) but may not be used.
    tool_choice: Literal["auto", "none"] = "auto"
    # A tool the model must call (a structured answer, e.g. one intent name); wins over
    # tool_choice.
    force_tool: str | None = None
    max_tokens: int = 1024


class LLMResponse(BaseModel):
    """The model's answer: text and/or tool calls, why it stopped, and its usage."""

    model: str
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    stop_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)

    def as_message(self) -> Message:
        parts: list[Part] = []
        if self.text:
            parts.append(TextPart(text=self.text))
        parts.extend(self.tool_calls)
        return Message(role="assistant", parts=parts)


OnText = Callable[[str], Awaitable[None]]
