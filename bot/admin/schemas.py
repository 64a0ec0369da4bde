"""Response models of the admin JSON API (they make up its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class ConversationSummary(BaseModel):
    """One conversation in the live list; the person's identity is masked."""

    id: UUID
    channel: str
    contact: str = Field(description="display name and masked channel identity")
    session_status: str | None
    handoff_status: str | None
    last_message_at: datetime | None
    last_direction: str | None
    last_intent: str | None


class TranscriptMessage(BaseModel):
    """A message of a transcript, with the intent found for an inbound one."""

    id: int
    direction: str
    text: str
    status: str
    author: str | None
    created_at: datetime
    intent: str | None = None
    confidence: float | None = None
    method: str | None = None


class ToolCall(BaseModel):
    """A tool the agent called during a turn."""

    message_id: int
    tool: str
    status: str
    attempts: int
    latency_ms: float
    created_at: datetime


class LlmCall(BaseModel):
    """One model call: tokens, cost and latency."""

    message_id: int | None
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float
    status: str
    created_at: datetime


class Transcript(BaseModel):
    """A conversation with its messages, intents, tool calls and costs."""

    conversation: ConversationSummary
    messages: list[TranscriptMessage]
    tool_calls: list[ToolCall]
    llm_calls: list[LlmCall]
    cost_usd: float


class HandoffItem(BaseModel):
    """A handoff waiting for or being handled by a person."""

    id: UUID
    conversation_id: UUID
    channel: str
    contact: str
    status: str
    staff: str | None
    trigger: str
    reason: str
    summary: str
    created_at: datetime
    waiting_s: float


class ReplyBody(BaseModel):
    """A staff reply (text starting with the note prefix stays internal)."""

    text: str = Field(min_length=1, max_length=4000)


class ActionResult(BaseModel):
    """What a staff action did."""

    ok: bool
    text: str
    status: str | None = None


class Series(BaseModel):
    """One line or bar group of a chart."""

    name: str
    values: list[float | None]


class Chart(BaseModel):
    """A time series chart: one label per bucket, one value per label in each series."""

    title: str
    unit: str
    bucket: str
    start: datetime
    end: datetime
    labels: list[datetime]
    series: list[Series]
    limit: float | None = Field(None, description="a cap drawn as a line (cost per day)")
    summary: dict[str, float | None] = Field(default_factory=dict)


class Bar(BaseModel):
    """One bar of a distribution."""

    name: str
    count: int


class Distribution(BaseModel):
    """Counts by name over the range (e.g. intents)."""

    title: str
    start: datetime
    end: datetime
    items: list[Bar]
