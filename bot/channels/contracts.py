"""The channel contract: what every adapter provides, and the capabilities some declare.

An adapter verifies and parses its platform's webhooks into `InboundMessage`s (handing
them to `Ingest`), and renders and sends `OutboundReply`s. A capability beyond that is
declared by subclassing its protocol (`TurnObserver`, `TypingIndicator`,
`ProvidesConsole`), so the core asks `isinstance`, never `getattr`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from fastapi import APIRouter

from bot.handoff.console import HandoffConsole
from bot.models import EventName, InboundMessage, IngestResult, PendingDelivery, StoredInbound

Ingest = Callable[[InboundMessage], Awaitable[IngestResult]]


@dataclass(frozen=True)
class SendResult:
    """The platform's answer to one send.

    `retry` means a transient failure: the reply stays queued and is tried again.
    """

    status: Literal["sent", "failed", "retry"]
    external_id: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True)
class ChannelTraits:
    """How the turn treats a channel's messages; the defaults suit a plain chat.

    Kept as data so the core stays platform-agnostic: it reads what a channel wants
    (bursts, typing, text menus, opt-out words) instead of naming channels.
    """

    #: messages arriving within this many seconds of each other form one turn (0: one each)
    burst_window_s: float = 0.0
    burst_max_messages: int = 10
    #: a turn waits at most this long for a burst to end
    burst_max_wait_s: float = 5.0
    #: a `TypingIndicator` is shown once a turn has run this long
    typing_after_s: float | None = None
    #: menus are sent as numbered text: "2" or an option's title picks that option
    text_menus: bool = False
    #: whole-message keywords (upper case) that opt a contact out / back in
    opt_out_words: frozenset[str] = frozenset()
    opt_in_words: frozenset[str] = frozenset()
    opt_out_reply: str = ""
    opt_in_reply: str = ""
    #: open clients follow a conversation live (the web chat page): each delivered message
    #: is announced to them (NOTIFY bot_conversations) with its delivery's commit
    announces_deliveries: bool = False

    @property
    def has_opt_out(self) -> bool:
        return bool(self.opt_out_words or self.opt_in_words)


class ChannelAdapter(Protocol):
    """One messaging channel."""

    name: str
    #: whether the channel shows progress events (status, text deltas) to a waiting HTTP
    #: client; such a channel is also sent `done` when its reply is marked delivered
    streams_progress: bool
    traits: ChannelTraits

    def router(self, ingest: Ingest) -> APIRouter:
        """The HTTP routes of this channel (webhooks, APIs), calling `ingest` per message."""
        ...

    async def send(self, delivery: PendingDelivery) -> SendResult:
        """Render and send one reply."""
        ...

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        """After a crash mid-send: did the platform get it? None when it cannot tell."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class TurnObserver(Protocol):
    """A channel that shows a turn's progress itself, in the process running the turn.

    For channels whose progress is drawn through the platform's API (a Slack placeholder
    or stream) rather than by a waiting HTTP client: the turn calls this with every event
    of the turn answering `message`. It must return quickly (queue the work); a failure
    never fails the turn.
    """

    async def turn_event(self, message: StoredInbound, event: EventName,
                         data: dict[str, Any]) -> None: ...


@runtime_checkable
class TypingIndicator(Protocol):
    """A channel that can show "typing…" for an inbound message (its traits say when)."""

    async def show_typing(self, external_id: str) -> None: ...


@runtime_checkable
class MediaSource(Protocol):
    """A channel whose attachments the bot can fetch (Twilio's media URLs need the
    account's credentials); at most the channel's size limit, else ValueError."""

    async def download_media(self, url: str) -> bytes: ...


@runtime_checkable
class ProvidesConsole(Protocol):
    """A channel that hosts the support console for handoffs (Slack's support channel)."""

    @property
    def console(self) -> HandoffConsole | None: ...
