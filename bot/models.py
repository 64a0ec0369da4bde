"""The common message form every channel converts to and from.

Adapters parse platform webhooks into `InboundMessage` and render `OutboundReply`
in their own idiom; the pipeline never sees a platform payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


class Media(BaseModel):
    """One attachment: where to fetch it and what it is."""

    url: str
    content_type: str = "application/octet-stream"
    caption: str | None = None


class Location(BaseModel):
    """A shared location pin."""

    latitude: float
    longitude: float
    address: str | None = None
    label: str | None = None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(text: str) -> str:
    # NUL dropped, a lone surrogate (JSON may carry "\ud800"; UTF-8 cannot) replaced
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def _storable(value: Any) -> Any:
    """`value` with every string made storable (PostgreSQL text and jsonb hold neither NUL
    nor lone surrogates), dicts and lists walked. A plain string (nearly all: ASCII
    without NUL) is kept as it is, checked in place: this runs on every inbound message,
    and a call per field was most of its cost."""
    if isinstance(value, str):
        return value if value.isascii() and "\x00" not in value else _clean(value)
    if isinstance(value, dict):
        return {(k if type(k) is str and k.isascii() and "\x00" not in k else _storable(k)):
                (v if type(v) is str and v.isascii() and "\x00" not in v else _storable(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) is str and v.isascii() and "\x00" not in v else _storable(v)
                for v in value]
    return value


class InboundMessage(BaseModel):
    """A user's message as every adapter hands it to ingestion."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # PostgreSQL text and jsonb cannot hold NUL or a lone surrogate (the guard drops
        # control characters anyway); without this one of them would fail a webhook or
        # the chat API with a 500.
        return _storable(data)

    channel: str
    external_id: str = Field(min_length=1, max_length=255)
    sender_id: str = Field(min_length=1, max_length=255)
    sender_name: str | None = None
    conversation_key: str = Field(min_length=1, max_length=512)
    text: str = ""
    media: list[Media] = Field(default_factory=list)
    payload: str | None = None
    location: Location | None = None
    reply_to_external_id: str | None = None
    received_at: datetime = Field(default_factory=utcnow)
    raw: dict[str, Any] = Field(default_factory=dict)


def short_title(text: str, limit: int) -> str:
    """A button title within `limit` characters (WhatsApp: 20 for a reply button, 24 for
    a list row), cut with an ellipsis so a person sees it was cut."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


class Option(BaseModel):
    """A choice the user can tap; `payload` comes back as the inbound payload."""

    title: str
    payload: str
    description: str | None = None


class QuickReplies(BaseModel):
    """A few buttons under the text."""

    kind: Literal["quick_replies"] = "quick_replies"
    options: list[Option]


class PickList(BaseModel):
    """A longer list to pick one item from."""

    kind: Literal["list"] = "list"
    button: str = "Choose"
    options: list[Option]


class Card(BaseModel):
    """A titled card with an optional image and buttons."""

    kind: Literal["card"] = "card"
    title: str
    body: str = ""
    image_url: str | None = None
    buttons: list[Option] = Field(default_factory=list)


class Carousel(BaseModel):
    """Several cards side by side."""

    kind: Literal["carousel"] = "carousel"
    cards: list[Card]


class MediaPart(BaseModel):
    """An image or file sent with the reply."""

    kind: Literal["media"] = "media"
    media: Media


RichPart = Annotated[
    QuickReplies | PickList | Card | Carousel | MediaPart, Field(discriminator="kind")
]


class OutboundReply(BaseModel):
    """What the bot says back: Markdown text plus optional rich parts."""

    text: str
    parts: list[RichPart] = Field(default_factory=list)
    from_human: bool = False
    #: an opt-out/opt-in confirmation, delivered even to a contact who has opted out
    compliance_notice: bool = False

    def options(self) -> list[Option]:
        """Every tappable option in the reply, in display order."""
        found: list[Option] = []
        for part in self.parts:
            if isinstance(part, QuickReplies | PickList):
                found.extend(part.options)
            elif isinstance(part, Card):
                found.extend(part.buttons)
            elif isinstance(part, Carousel):
                for card in part.cards:
                    found.extend(card.buttons)
        return found


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


EventName = Literal["status", "tool_call_start", "tool_call_end", "text_delta", "done", "error"]


class StreamEvent(BaseModel):
    """A progress event of one turn, streamed to channels that can show progress."""

    message_id: int
    event: EventName
    data: dict[str, Any] = Field(default_factory=dict)


class ConversationNotice(BaseModel):
    """What happened in a conversation, announced to whoever follows it (the web chat
    page, `bot chat`): a message sent into it (staff replies and notices arrive without
    the customer asking), or its handoff changing state."""

    conversation_id: UUID
    kind: Literal["message", "handoff"] = "message"
    #: the message sent (kind "message")
    message_id: int | None = None
    #: the customer's message it answers (None: a notice, or staff writing on their own)
    reply_to: int | None = None
    #: the staff member who wrote it, or who claimed the handoff (None: the bot)
    author: str | None = None
    #: the handoff's new state (kind "handoff"): waiting, claimed, resolved, returned
    status: str | None = None


# --- the forms stored messages take when the core hands them on

@dataclass(frozen=True)
class StoredInbound:
    """An inbound message as the worker reads it back."""

    id: int
    contact_id: UUID
    conversation_id: UUID
    channel: str
    external_id: str
    text: str
    payload: str | None
    media: list[Media]
    received_at: datetime
    attempts: int
    trace_id: str | None


@dataclass(frozen=True)
class IngestResult:
    """What ingestion stored: the message id and whether it was already there."""

    message_id: int
    conversation_id: UUID
    contact_id: UUID
    duplicate: bool
    #: a drain job of the conversation is queued and not started: it will read this message
    drain_waiting: bool = False


@dataclass(frozen=True)
class PendingDelivery:
    """An outbound reply that still has to reach the platform."""

    id: int
    conversation_id: UUID
    channel: str
    conversation_key: str
    recipient: str
    reply: OutboundReply
    reply_to: int | None
    reply_to_external_id: str | None
    status: str
    attempts: int
    #: the staff member who wrote it, for replies written by a person
    author: str | None = None
    contact_id: UUID | None = None
    #: seconds since the row last changed state (how long a `sending` row has been in flight)
    age_s: float = 0.0
    #: the recipient as read with the delivery: opted out, last message from them (the
    #: WhatsApp 24-hour window), so an adapter needs no read of its own before sending
    recipient_opted_out: bool = False
    recipient_last_inbound_at: datetime | None = None
    #: the channel's own record on the reply row (WhatsApp: the SIDs of parts accepted)
    raw: dict[str, Any] | None = None
