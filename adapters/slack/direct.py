"""The direct path for plain Slack message events: verified and stored without bolt's dispatch.

Most of what reaches `/slack/events` is a person's message or mention. bolt's dispatch
spends 160-190 µs of CPU on each (building its request and context, a new Web API
client, its middleware chain and kwargs injection three times), several times what
storing the message costs the web process: every event through bolt cost 10-23 % of
ingestion capacity (docs/internals.md, "Bypasses"). This path takes only the events
that need none of it and hands them to the same listener bolt would call:

- a JSON `event_callback` whose event is a `message` or an `app_mention`;
- with the single bot token (with OAuth every event needs its installation: bolt);
- not in the support console's channel (the console's own listener: bolt);
- once the bot's identity is known (`auth.test`, once per process, as bolt does).

It checks the request the way bolt does, with slack-sdk's `SignatureVerifier`
(signing secret, 5-minute window). Anything else, including a request that fails the
check, goes to bolt unchanged, so refusals, url_verification, interactivity and every
other event keep one behaviour.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from slack_sdk.errors import SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

log = structlog.get_logger(__name__)

#: the event types the adapter's own listener stores
DIRECT_EVENTS = frozenset({"message", "app_mention"})

Listener = Callable[[dict[str, Any], dict[str, Any], dict[str, Any], AsyncWebClient],
                    Awaitable[None]]


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is in its workspace, from `auth.test` (bolt's authorize result)."""

    bot_user_id: str | None
    bot_id: str | None


def direct_event(body: bytes, *, console_channel: str | None) -> tuple[dict[str, Any],
                                                                       dict[str, Any]] | None:
    """The payload and its event when the direct path may take it; None for bolt."""
    if not body.startswith(b"{"):
        return None  # a form (interactivity, commands) or not Slack at all
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8 or JSON, or nested past the parser
        return None
    if not isinstance(payload, dict) or payload.get("type") != "event_callback":
        return None
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("type") not in DIRECT_EVENTS:
        return None
    channel = event.get("channel")
    if not isinstance(channel, str) or channel == console_channel:
        return None
    if not all(isinstance(event.get(k, ""), str) for k in ("user", "ts", "text", "team")):
        return None  # bolt's checks answer a malformed event
    return payload, event


class DirectEvents:
    """Takes plain message events off bolt's dispatch; `take` returns False to hand over."""

    def __init__(self, signing_secret: str, client: AsyncWebClient, listener: Listener, *,
                 console_channel: str | None) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.client = client
        self.listener = listener
        self.console_channel = console_channel
        self._identity: BotIdentity | None = None
        self._asking = asyncio.Lock()

    async def identity(self) -> BotIdentity | None:
        """`auth.test` once per process; None while it fails (bolt then answers)."""
        if self._identity is None:
            async with self._asking:
                if self._identity is None:
                    try:
                        found = await self.client.auth_test()
                    except (SlackClientError, TimeoutError, OSError) as exc:
                        log.info("slack_auth_test_failed", error=type(exc).__name__)
                        return None
                    self._identity = BotIdentity(found.get("user_id"), found.get("bot_id"))
        return self._identity

    async def take(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Store the event when it is one for the direct path; False when bolt should
        handle the request. A listener's failure propagates (the caller answers 5xx)."""
        found = direct_event(body, console_channel=self.console_channel)
        if found is None:
            return False
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        # the verifier raises on a timestamp that is not a number and on a non-ASCII
        # signature: such requests are bolt's to refuse, like every failed check
        if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()
                and self.verifier.is_valid(body, timestamp, signature)):
            return False
        identity = await self.identity()
        if identity is None:
            return False
        payload, event = found
        context = {"bot_user_id": identity.bot_user_id, "bot_id": identity.bot_id}
        await self.listener(payload, event, context, self.client)
        return True
