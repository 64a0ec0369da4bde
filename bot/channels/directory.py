"""The enabled channels of one process, and what the core asks of each by name."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from bot.channels.contracts import ChannelAdapter, ChannelTraits, TurnObserver, TypingIndicator

_PLAIN = ChannelTraits()


class Channels:
    """Adapters by channel name. Holds the mapping it is given (not a copy), so a
    channel replaced before the process starts is the one the turn and delivery use."""

    def __init__(self, adapters: MutableMapping[str, ChannelAdapter]) -> None:
        self.adapters = adapters

    def get(self, name: str) -> ChannelAdapter | None:
        return self.adapters.get(name)

    def names(self) -> list[str]:
        return list(self.adapters)

    def __iter__(self) -> Iterator[ChannelAdapter]:
        return iter(list(self.adapters.values()))

    def traits(self, name: str) -> ChannelTraits:
        adapter = self.adapters.get(name)
        return adapter.traits if adapter is not None else _PLAIN

    def streams_progress(self, name: str) -> bool:
        adapter = self.adapters.get(name)
        return adapter is not None and adapter.streams_progress

    def observer(self, name: str) -> TurnObserver | None:
        adapter = self.adapters.get(name)
        return adapter if isinstance(adapter, TurnObserver) else None

    def typing(self, name: str) -> TypingIndicator | None:
        adapter = self.adapters.get(name)
        return adapter if isinstance(adapter, TypingIndicator) else None
