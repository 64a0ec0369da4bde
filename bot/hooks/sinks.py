"""Where events go: a signed webhook POST, or a message in a Slack alerts channel.

A sink raises `RetryableHookError` for failures worth another attempt (5xx, 429,
timeouts, connection errors) and `HookError` for the rest (other 4xx).
"""

from __future__ import annotations

from typing import Protocol

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.hooks.events import HookEvent
from bot.hooks.signing import SIGNATURE_HEADER, sign


class HookError(Exception):
    """A delivery failed for good."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RetryableHookError(HookError):
    """A delivery failed in a way another attempt may fix."""


class Sink(Protocol):
    """A receiver of events."""

    target: str

    async def send(self, event: HookEvent) -> int | None:
        """Deliver once; the HTTP status on success."""
        ...


class WebhookSink:
    """POSTs the event as JSON, signed with HOOK_SECRET."""

    def __init__(self, url: str, secret: str, client: httpx.AsyncClient) -> None:
        self.target = url
        self.secret = secret
        self.client = client

    async def send(self, event: HookEvent) -> int | None:
        body = event.model_dump_json().encode()
        headers = {"Content-Type": "application/json", "X-Bot-Event": event.type,
                   "X-Bot-Delivery": str(event.id), SIGNATURE_HEADER: sign(self.secret, body)}
        try:
            response = await self.client.post(self.target, content=body, headers=headers)
        except httpx.HTTPError as exc:  # timeouts, refused connections, resets
            raise RetryableHookError(type(exc).__name__) from exc
        code = response.status_code
        if code >= 500 or code in (408, 429):
            raise RetryableHookError(f"HTTP {code}", code)
        if code >= 400:
            raise HookError(f"HTTP {code}", code)
        return code


class SlackAlertSink:
    """Posts a one-line summary to SLACK_ALERTS_CHANNEL."""

    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self.target = f"slack:{channel}"
        self.channel = channel
        self.client = client

    async def send(self, event: HookEvent) -> int | None:
        try:
            await self.client.chat_postMessage(channel=self.channel, text=event.summary())
        except SlackApiError as exc:
            code = exc.response.status_code
            if code >= 500 or code == 429:
                raise RetryableHookError(f"Slack HTTP {code}", code) from exc
            raise HookError(f"Slack error {exc.response.get('error')}", code) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableHookError(type(exc).__name__) from exc
        return 200
