"""What a channel adapter is to the core: its contracts and the dependencies it is built from.

Adapters (the `adapters` package) implement these; the core never imports an adapter.
"""

from bot.channels.contracts import (
    ChannelAdapter,
    ChannelTraits,
    Ingest,
    MediaSource,
    ProvidesConsole,
    SendResult,
    TurnObserver,
    TypingIndicator,
)
from bot.channels.deps import ChannelDeps
from bot.channels.directory import Channels

__all__ = [
    "ChannelAdapter",
    "ChannelDeps",
    "ChannelTraits",
    "Channels",
    "Ingest",
    "MediaSource",
    "ProvidesConsole",
    "SendResult",
    "TurnObserver",
    "TypingIndicator",
]
