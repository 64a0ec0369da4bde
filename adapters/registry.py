"""The channel adapters of one process: a channel is on when it is configured.

The one place that names every channel; the core gets the result through the runtime and
never imports an adapter itself.
"""

from __future__ import annotations

from bot.channels import ChannelAdapter, ChannelDeps
from bot.settings import Settings


def build_adapters(deps: ChannelDeps) -> dict[str, ChannelAdapter]:
    """Every enabled adapter by channel name; the web chat is always on."""
    from adapters.web import WebChatAdapter

    found: list[ChannelAdapter] = [WebChatAdapter(deps)]
    settings: Settings = deps.settings
    if settings.slack_enabled:
        from adapters.slack import SlackAdapter  # slack-bolt is imported only when it is used

        found.append(SlackAdapter(deps))
    if settings.whatsapp_enabled:
        from adapters.whatsapp import WhatsAppAdapter  # twilio is imported only when on

        found.append(WhatsAppAdapter(deps))
    return {adapter.name: adapter for adapter in found}
