"""A Slack channel as the support console for handoffs from every channel.

Each handoff is one message in HANDOFF_SLACK_CHANNEL with Claim / Resolve / Back to
bot; its thread mirrors the customer's messages and carries status lines. What staff
write in the thread goes to the customer through `HandoffService.reply`, which stores
an outbound message the customer's own channel (WhatsApp, web chat, Slack) delivers;
lines starting with HANDOFF_NOTE_PREFIX stay internal.

It lives next to the Slack adapter and shares its web client, its pacing and its bolt
app: the adapter hands it every event and click from the support channel, so those
never become bot conversations.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from uuid import UUID

import aiohttp
import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.console_format import (
    ACTION_PREFIX,
    BACK,
    CLAIM,
    RESOLVE,
    handoff_card,
    mirror_line,
    notice_line,
    staff_text,
)
from adapters.slack.names import UserNames
from adapters.slack.outbound import ChannelPacer, ClientFor
from bot.handoff.console import HandoffConsole, HandoffView, StaffActions, StaffResult
from bot.settings import Settings

log = structlog.get_logger(__name__)
#: message subtypes that are still a person writing
_PERSON_SUBTYPES = frozenset({"file_share", "thread_broadcast"})
_SLACK_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)


class ConsoleUnavailable(RuntimeError):
    """No Slack client for the support channel's workspace."""


class SlackConsole(HandoffConsole):
    """`HandoffConsole` in a Slack channel, plus the listeners for staff in it."""

    def __init__(self, settings: Settings, *, client_for: ClientFor, pacer: ChannelPacer,
                 names: UserNames, staff: StaffActions) -> None:
        assert settings.handoff_slack_channel, "HANDOFF_SLACK_CHANNEL selects the console"
        self.settings = settings
        self.channel = settings.handoff_slack_channel
        self.team = settings.handoff_slack_team or ""
        self.client_for = client_for
        self.pacer = pacer
        self.names = names
        self.staff = staff
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- wiring into the Slack adapter's bolt app (registered before its own listeners)
    def register(self, app: AsyncApp) -> None:
        app.event(re.compile(r"^(message|app_mention)$"),
                  matchers=[self._in_support_channel])(self._on_message)
        app.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_action)

    async def _in_support_channel(self, event: dict[str, Any] | None) -> bool:
        return bool(event) and (event or {}).get("channel") == self.channel

    async def _client(self) -> AsyncWebClient:
        client = await self.client_for(self.team)
        if client is None:
            raise ConsoleUnavailable(f"no Slack installation for team {self.team!r}")
        return client

    async def _post(self, text: str, *, thread_ts: str | None = None,
                    blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        client = await self._client()
        async with self.pacer.slot(self.channel):
            response = await client.chat_postMessage(
                channel=self.channel, thread_ts=thread_ts, text=text, blocks=blocks,
                unfurl_links=False, unfurl_media=False)
        return dict(response.data) if isinstance(response.data, dict) else {}

    # --- HandoffConsole
    async def announce(self, handoff: HandoffView) -> dict[str, str]:
        card = handoff_card(handoff, self.settings.handoff_note_prefix)
        posted = await self._post(card.text, blocks=card.blocks)
        return {"slack_channel": self.channel, "slack_ts": str(posted["ts"])}

    async def mirror(self, handoff: HandoffView, author: str, text: str) -> None:
        thread = self._thread(handoff)
        if thread is None:
            return  # not announced yet (outside hours): the card will show it
        await self._post(mirror_line(author, text), thread_ts=thread)

    async def notice(self, handoff: HandoffView, text: str) -> None:
        """A line in the thread; once it changed hands, the card shows the new status."""
        thread = self._thread(handoff)
        if thread is None:
            return
        try:
            await self._post(notice_line(text, self.settings.handoff_mention), thread_ts=thread)
            if handoff.status != "waiting":
                await self._refresh_card(handoff.id, thread)
        except (*_SLACK_ERRORS, ConsoleUnavailable) as exc:  # staff actions never fail on it
            log.warning("slack_console_notice_failed", handoff_id=str(handoff.id),
                        error=str(exc)[:200])

    def _thread(self, handoff: HandoffView) -> str | None:
        if handoff.console.get("slack_channel") not in (None, self.channel):
            return None  # announced in a support channel configured before this one
        return handoff.console.get("slack_ts")

    async def _refresh_card(self, handoff_id: UUID, ts: str) -> None:
        view = await self.staff.view(handoff_id)
        card = handoff_card(view, self.settings.handoff_note_prefix)
        client = await self._client()
        await client.chat_update(channel=self.channel, ts=ts, text=card.text, blocks=card.blocks)

    # --- staff in the support channel
    async def _on_message(self, body: dict[str, Any], event: dict[str, Any],
                          context: dict[str, Any], client: AsyncWebClient) -> None:
        """A staff reply in a handoff's thread: stored for delivery before Slack is acked."""
        if not self._is_staff_reply(event, context):
            return
        text = staff_text(str(event.get("text") or ""))
        thread_ts = str(event["thread_ts"])
        handoff = await self.staff.find_by_console("slack_ts", thread_ts)
        if handoff is None or self._thread(handoff) != thread_ts:
            return  # a conversation among staff, not under a handoff card
        team = str(body.get("team_id") or event.get("team") or self.team)
        staff = await self.names.of_staff(client, team, str(event["user"])) or "staff"
        if not text and event.get("files"):
            self._spawn(self._say(thread_ts, "Files are not sent to the customer from here; "
                                             "please describe or link them in a message."))
            return
        result = await self.staff.reply(handoff.id, staff, text,
                                             source=f"slack:{self.channel}:{event['ts']}")
        if not result.ok:
            self._spawn(self._say(thread_ts, result.text))

    def _is_staff_reply(self, event: dict[str, Any], context: dict[str, Any]) -> bool:
        subtype = event.get("subtype")
        thread_ts = event.get("thread_ts")
        return (event.get("type") == "message" and (not subtype or subtype in _PERSON_SUBTYPES)
                and not event.get("bot_id") and not event.get("edited")
                and bool(event.get("user")) and event.get("user") != context.get("bot_user_id")
                and bool(thread_ts) and thread_ts != event.get("ts"))

    async def _on_action(self, ack: Callable[[], Awaitable[Any]], body: dict[str, Any],
                         client: AsyncWebClient) -> None:
        # Acknowledged at once; the work runs after Slack has its answer. (Not a bolt lazy
        # listener: bolt keeps no reference to those tasks, and asyncio may drop them.)
        await ack()
        self._spawn(self._on_click(body, client))

    async def _on_click(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        action = (body.get("actions") or [{}])[0]
        user = body.get("user") or {}
        if (body.get("channel") or {}).get("id") != self.channel or not user.get("id"):
            return
        try:
            handoff_id = UUID(str(action.get("value")))
        except ValueError:
            return
        team = str((body.get("team") or {}).get("id") or user.get("team_id") or self.team)
        staff = (await self.names.of_staff(client, team, str(user["id"])) or user.get("name")
                 or "staff")
        try:
            result = await self._act(str(action.get("action_id")), handoff_id, staff)
        except LookupError:
            result = StaffResult(False, "This handoff no longer exists.")
        if not result.ok:
            await self._whisper(client, str(user["id"]), result.text,
                                (body.get("message") or {}).get("ts"))

    async def _act(self, action_id: str, handoff_id: UUID, staff: str) -> StaffResult:
        if action_id == CLAIM:
            return await self.staff.claim(handoff_id, staff)
        if action_id in (RESOLVE, BACK):
            return await self.staff.finish(handoff_id, staff, back_to_bot=action_id == BACK)
        return StaffResult(False, "Unknown action.")

    async def _whisper(self, client: AsyncWebClient, user: str, text: str,
                       thread_ts: str | None) -> None:
        """Only the clicking person sees why nothing happened (e.g. already claimed)."""
        try:
            await client.chat_postEphemeral(channel=self.channel, user=user, text=text,
                                            thread_ts=thread_ts)
        except _SLACK_ERRORS as exc:
            log.info("slack_console_ephemeral_failed", error=str(exc)[:200])

    async def _say(self, thread_ts: str, text: str) -> None:
        try:
            await self._post(notice_line(text), thread_ts=thread_ts)
        except (*_SLACK_ERRORS, ConsoleUnavailable) as exc:
            log.info("slack_console_say_failed", error=str(exc)[:200])

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
