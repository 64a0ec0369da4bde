"""Slack events and clicks in: stored as messages before Slack is acknowledged.

bolt calls these listeners (or the direct path does, `direct.py`); they do nothing that
can be slow before the message is stored: the sender's name is looked up afterwards, and
a clicked button is marked as chosen after the acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import store
from adapters.slack.events import action_to_inbound, classify, event_to_inbound, message_ref
from adapters.slack.format import after_choice
from adapters.slack.names import UserNames
from bot.channels import Ingest
from bot.db.pool import Database
from bot.models import InboundMessage, IngestResult
from bot.settings import Settings

log = structlog.get_logger(__name__)


class SlackListeners:
    """The message, mention and click listeners of the channel."""

    def __init__(self, settings: Settings, db: Database, names: UserNames) -> None:
        self.settings = settings
        self.db = db
        self.names = names
        self.ingest: Ingest | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _store(self, message: InboundMessage) -> IngestResult:
        assert self.ingest is not None, "router() wires ingestion before requests arrive"
        return await self.ingest(message)

    async def on_message(self, body: dict[str, Any], event: dict[str, Any],
                         context: dict[str, Any], client: AsyncWebClient) -> None:
        kind = classify(event, bot_user_id=context.get("bot_user_id"),
                        bot_id=context.get("bot_id"), ignore_bots=self.settings.slack_ignore_bots)
        team = str(body.get("team_id") or event.get("team") or "")
        if kind == "ignore" or not team:
            return
        if kind == "thread" and not await store.thread_known(
                self.db, message_ref(team, event).thread_key):
            return
        user = str(event["user"])
        name = self.names.known(team, user)
        stored = await self._store(event_to_inbound(team, event, event_id=body.get("event_id"),
                                                    bot_user_id=context.get("bot_user_id"),
                                                    sender_name=name))
        if name is None and self.names.should_learn(team, user):
            self.spawn(self.names.learn(client, team, user, stored.contact_id))

    async def on_action(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        message = action_to_inbound(body)
        if message is None:
            return
        await self._store(message)
        self.spawn(self._mark_choice(client, body, message.text))

    async def ignore(self) -> None:
        return None

    async def acknowledge(self, ack: Any, body: dict[str, Any]) -> None:
        """Interactivity the bot does not handle (other buttons, modals, shortcuts, legacy
        attachments): acknowledged, so Slack shows the person no error, and dropped."""
        await ack()
        log.info("slack_interaction_ignored", type=body.get("type"))

    async def no_options(self, ack: Any) -> None:
        """A menu asking for options the bot does not serve: an empty list."""
        await ack(options=[])

    async def unknown_command(self, ack: Any, command: dict[str, Any]) -> None:
        """A slash command pointed at this app: a polite answer only the person sees."""
        name = str(command.get("command") or "that command")
        await ack(text=f"Sorry, I don't handle {name}. Mention me or send me a direct"
                       " message and I'll help.")

    async def _mark_choice(self, client: AsyncWebClient, body: dict[str, Any],
                           chosen: str) -> None:
        original = body.get("message") or {}
        try:
            await client.chat_update(
                channel=body["channel"]["id"], ts=original["ts"],
                text=original.get("text") or chosen,
                blocks=after_choice(original.get("blocks") or [], chosen, body["user"]["id"]))
        except SlackClientError as exc:
            log.info("slack_choice_update_failed", error=str(exc)[:200])

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
