"""Building the configured sinks from settings (HOOK_URLS, SLACK_ALERTS_CHANNEL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from slack_sdk.web.async_client import AsyncWebClient

from bot.db.pool import Database
from bot.hooks.dispatcher import EventHooks
from bot.hooks.sinks import Sink, SlackAlertSink, WebhookSink
from bot.observability import Metrics
from bot.settings import Settings


def build_hooks(settings: Settings, metrics: Metrics, db: Database | None) -> EventHooks:
    """EventHooks with one sink per receiver URL, plus Slack when an alerts channel is set."""
    sinks: list[Sink] = []
    closers: list[Callable[[], Awaitable[Any]]] = []
    if settings.hook_url_list and settings.hook_secret is not None:
        client = httpx.AsyncClient(timeout=settings.hook_timeout_s, follow_redirects=False)
        closers.append(client.aclose)
        secret = settings.hook_secret.get_secret_value()
        sinks += [WebhookSink(url, secret, client) for url in settings.hook_url_list]
    if settings.slack_alerts_channel and settings.slack_bot_token is not None:
        kwargs: dict[str, Any] = {"token": settings.slack_bot_token.get_secret_value(),
                                  "timeout": max(1, int(settings.hook_timeout_s))}
        if settings.slack_api_base_url:
            kwargs["base_url"] = settings.slack_api_base_url.rstrip("/") + "/"
        slack = AsyncWebClient(**kwargs)
        sinks.append(SlackAlertSink(slack, settings.slack_alerts_channel))
    return EventHooks(settings, metrics, sinks, db=db, closers=closers)
