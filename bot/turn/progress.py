"""A turn's progress events, to whoever shows them while it runs.

A channel that streams progress (the web chat) has a waiting HTTP client in some web
process: events go there through PostgreSQL NOTIFY. A channel that observes turns (Slack)
draws them through its platform's API from this process. Either, both or neither.
"""

from __future__ import annotations

from typing import Any, Literal

import structlog

from bot.channels import TurnObserver
from bot.models import EventName, StoredInbound, StreamEvent
from bot.outbound.events import EventHub
from bot.turn.unit import TurnUnit

log = structlog.get_logger(__name__)

#: "now": its own NOTIFY; "with_commit": NOTIFY with the turn's unit; "sent": already sent
Notify = Literal["now", "with_commit", "sent"]


class Progress:
    """Emits the events of the turn answering `message`."""

    def __init__(self, message: StoredInbound, *, hub: EventHub | None,
                 observer: TurnObserver | None, unit: TurnUnit) -> None:
        self.message = message
        #: set when the channel streams progress to a waiting client
        self.hub = hub
        self.observer = observer
        self.unit = unit
        #: whether any of the reply's text has been shown as it was written
        self.streamed = False

    @property
    def shows_text_as_written(self) -> bool:
        return self.hub is not None or self.observer is not None

    async def emit(self, event: EventName, data: dict[str, Any]) -> None:
        """A responder's `Emit`: the event goes out now."""
        await self.send(event, data)

    async def send(self, event: EventName, data: dict[str, Any], *,
                   notify: Notify = "now") -> None:
        if event == "text_delta":
            self.streamed = True
        if self.hub is not None and notify != "sent":
            stream_event = StreamEvent(message_id=self.message.id, event=event, data=data)
            if notify == "now":
                await self.hub.publish(stream_event)
            else:
                self.unit.publish(stream_event)
        if self.observer is not None:
            try:
                await self.observer.turn_event(self.message, event, data)
            except Exception:  # progress display never fails a turn
                log.warning("turn_observer_failed", channel=self.message.channel, exc_info=True)
