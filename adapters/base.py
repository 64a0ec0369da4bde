"""What every channel adapter provides.

An adapter is one module: it verifies and parses its platform's webhooks into
`InboundMessage`s (handing them to `Ingest`), and renders and sends
`OutboundReply`s. Conversion functions stay pure so they are tested without HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from fastapi import APIRouter

from bot.db.messages import IngestResult, PendingDelivery, StoredInbound
from bot.models import EventName, InboundMessage

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
    """How the pipeline treats a channel's turns; an adapter without `traits` gets these.

    Kept as data so the pipeline stays platform-agnostic: it reads what a channel
    wants (bursts, typing, text menus, opt-out words) instead of naming channels.
    """

    #: messages arriving within this many seconds of each other form one turn (0: one each)
    burst_window_s: float = 0.0
    burst_max_messages: int = 10
    #: a turn waits at most this long for a burst to end
    burst_max_wait_s: float = 5.0
    #: call the adapter's `show_typing(external_id)` once a turn has run this long
    typing_after_s: float | None = None
    #: menus are sent as numbered text: "2" or an option's title picks that option
    text_menus: bool = False
    #: whole-message keywords (upper case) that opt a contact out / back in
    opt_out_words: frozenset[str] = frozenset()
    opt_in_words: frozenset[str] = frozenset()
    opt_out_reply: str = ""
    opt_in_reply: str = ""


class ChannelAdapter(Protocol):
    """One messaging channel."""

    name: str
    #: whether the channel shows progress events (status, text deltas) while a turn runs;
    #: such a channel is also sent `done` when its reply is marked delivered
    streams_progress: bool

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
    """An adapter that shows a turn's progress itself, in the process running the turn.

    For channels whose progress is drawn through the platform's API (a Slack
    placeholder or stream, a WhatsApp typing indicator) rather than by a waiting HTTP
    client: the pipeline calls this with every event of the turn answering `message`.
    It must return quickly (queue the work) and a failure never fails the turn.
    """

    async def turn_event(self, message: StoredInbound, event: EventName,
                         data: dict[str, Any]) -> None: ...
