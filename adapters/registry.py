"""The channel adapters of one process: a channel is on when it is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.base import ChannelAdapter
from adapters.web import WebChatAdapter

if TYPE_CHECKING:
    from bot.runtime import Runtime


def build_adapters(runtime: Runtime) -> dict[str, ChannelAdapter]:
    """Every enabled adapter by channel name; the web chat is always on."""
    found: list[ChannelAdapter] = [WebChatAdapter(runtime)]
    if runtime.settings.slack_enabled:
        from adapters.slack import SlackAdapter  # slack-bolt is imported only when it is used

        found.append(SlackAdapter(runtime))
    if runtime.settings.whatsapp_enabled:
        from adapters.whatsapp import WhatsAppAdapter  # twilio is imported only when on

        found.append(WhatsAppAdapter(runtime))
    return {adapter.name: adapter for adapter in found}
