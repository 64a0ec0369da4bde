"""Slack outbound: paced posting, progress while a turn runs, and the final reply.

Progress for one inbound message (a "thinking…" placeholder, an assistant-thread
status or a streamed answer) is kept by a small per-turn task fed from a queue,
so the turn's `emit` never waits on Slack. The reply then replaces the placeholder
(chat.update) or finishes the stream, and any further messages follow in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.events import ConversationRef, parse_key
from adapters.slack.format import render_reply
from bot.channels import SendResult
from bot.models import EventName, PendingDelivery
from bot.settings import Settings

log = structlog.get_logger(__name__)
ClientFor = Callable[[str], Awaitable[AsyncWebClient | None]]
#: message metadata marking the bot's own posts, so a restarted worker can tell
#: whether a reply (or which parts of it) reached Slack before a crash
REPLY_EVENT = "bot_reply"
PLACEHOLDER_EVENT = "bot_placeholder"
_RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error",
                               "service_unavailable", "request_timeout"})
_MAX_TURNS = 1000


def web_client(settings: Settings, token: str | None) -> AsyncWebClient:
    """A Web API client that honours Slack's 429 + Retry-After a few times itself."""
    handlers: list[AsyncRetryHandler] = [AsyncRateLimitErrorRetryHandler(
        max_retry_count=settings.slack_rate_limit_retries)]
    if settings.slack_api_base_url:
        return AsyncWebClient(token=token, base_url=settings.slack_api_base_url,
                              retry_handlers=handlers)
    return AsyncWebClient(token=token, retry_handlers=handlers)


class ChannelPacer:
    """At most one message per `interval_s` per channel from this process."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if len(self._next) > 10_000:  # forget channels that are idle anyway
            now = loop.time()
            for idle in [c for c, t in self._next.items() if t < now and not
                         self._locks[c].locked()]:
                self._next.pop(idle)
                self._locks.pop(idle)
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._next.get(channel, 0.0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._next[channel] = loop.time() + self.interval_s


def failure(exc: Exception) -> SendResult:
    """A failed Web API call as a send result: transient ones are retried, never dropped."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        code = str(exc.response.get("error", "")) if hasattr(exc.response, "get") else ""
        if status == 429 or status >= 500 or code in _RETRYABLE_ERRORS:
            headers: Any = getattr(exc.response, "headers", {}) or {}
            after = headers.get("Retry-After") or headers.get("retry-after")
            if isinstance(after, list):
                after = after[0] if after else None
            return SendResult("retry", error=code or f"http {status}",
                              retry_after_s=float(after) if after else 2.0)
        return SendResult("failed", error=code or f"http {status}")
    return SendResult("retry", error=type(exc).__name__, retry_after_s=2.0)


@dataclass
class TurnProgress:
    """What the bot shows in Slack while one turn runs."""

    message_id: int
    ref: ConversationRef
    recipient: str | None
    placeholder_ts: str | None = None
    stream: AsyncChatStream | None = None
    streamed: str = ""
    status_set: bool = False
    events: asyncio.Queue[tuple[EventName, dict[str, Any]] | None] = field(
        default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class SlackOutbound:
    """Sends replies and shows progress, for any workspace the adapter has a client for."""

    def __init__(self, settings: Settings, client_for: ClientFor) -> None:
        self.settings = settings
        self.client_for = client_for
        self.pacer = ChannelPacer(settings.slack_post_interval_s)
        self._progress: dict[int, TurnProgress] = {}
        self._posted: dict[int, list[str]] = {}  # delivery id → ts of parts already posted
        self._orphans: dict[int, str] = {}  # delivery id → placeholder of a crashed worker

    # --- progress
    def start_turn(self, message_id: int, ref: ConversationRef, recipient: str | None) -> None:
        """Begin showing progress for the turn answering `message_id`."""
        while len(self._progress) >= _MAX_TURNS:  # turns whose reply went to another worker
            stale = self._progress.pop(next(iter(self._progress)))
            if stale.task is not None:
                stale.task.cancel()
        progress = self._progress[message_id] = TurnProgress(message_id, ref, recipient)
        progress.task = asyncio.create_task(self._show(progress),
                                            name=f"slack-progress-{message_id}")

    def turn_event(self, message_id: int, event: EventName, data: dict[str, Any]) -> None:
        progress = self._progress.get(message_id)
        if progress is not None:
            progress.events.put_nowait((event, data))

    def knows(self, message_id: int) -> bool:
        return message_id in self._progress

    async def _show(self, progress: TurnProgress) -> None:
        client = await self.client_for(progress.ref.team)
        if client is None:
            return
        while (item := await progress.events.get()) is not None:
            event, data = item
            try:
                if event == "status":
                    await self._start(client, progress)
                elif event == "text_delta" and progress.stream is not None:
                    progress.streamed += str(data.get("text", ""))
                    await progress.stream.append(markdown_text=str(data.get("text", "")))
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("slack_progress_unavailable", progress_event=event, error=str(exc)[:200])
                if progress.stream is not None and progress.stream.ts is None:
                    progress.stream = None
                    await self._placeholder(client, progress)

    async def _start(self, client: AsyncWebClient, progress: TurnProgress) -> None:
        if progress.status_set or progress.placeholder_ts or progress.stream:
            return  # a retried turn keeps what the first attempt showed
        ref = progress.ref
        if ref.thread_ts and ref.channel.startswith("D") and self.settings.slack_assistant_status:
            try:
                await client.assistant_threads_setStatus(
                    channel_id=ref.channel, thread_ts=ref.thread_ts, status="is thinking…")
                progress.status_set = True
                return
            except SlackApiError as exc:  # not an assistant thread, or no assistant:write
                log.info("slack_status_unavailable", error=exc.response.get("error"))
        if self.settings.slack_streaming and ref.thread_ts and progress.recipient:
            team, user = progress.recipient.split(":", 1)
            progress.stream = await client.chat_stream(
                channel=ref.channel, thread_ts=ref.thread_ts, recipient_team_id=team,
                recipient_user_id=user, buffer_size=self.settings.slack_stream_buffer_chars)
            return
        await self._placeholder(client, progress)

    async def _placeholder(self, client: AsyncWebClient, progress: TurnProgress) -> None:
        async with self.pacer.slot(progress.ref.channel):
            response = await client.chat_postMessage(
                channel=progress.ref.channel, thread_ts=progress.ref.thread_ts,
                text=self.settings.slack_placeholder_text,
                metadata={"event_type": PLACEHOLDER_EVENT,
                          "event_payload": {"message_id": progress.message_id}})
        progress.placeholder_ts = str(response["ts"])

    async def _settle(self, client: AsyncWebClient, progress: TurnProgress) -> str | None:
        """Stop showing progress; the ts of a message the reply may overwrite, if any."""
        if progress.task is not None and not progress.task.done():
            progress.events.put_nowait(None)
            with contextlib.suppress(Exception):
                await progress.task
        if progress.stream is not None:
            stream, progress.stream = progress.stream, None
            try:
                await stream.stop()
                progress.placeholder_ts = stream.ts
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("slack_stream_stop_failed", error=str(exc)[:200])
                progress.placeholder_ts = stream.ts
        return progress.placeholder_ts

    # --- the reply
    async def send(self, delivery: PendingDelivery) -> SendResult:
        ref = parse_key(delivery.conversation_key)
        client = await self.client_for(ref.team)
        if client is None:
            return SendResult("failed", error=f"no Slack installation for team {ref.team}")
        progress = self._progress.get(delivery.reply_to) if delivery.reply_to else None
        posted = self._posted.setdefault(delivery.id, [])
        try:
            reuse = await self._settle(client, progress) if progress else None
            reuse = reuse or self._orphans.pop(delivery.id, None)
            for n, message in enumerate(render_reply(delivery.reply)):
                if n < len(posted):
                    continue  # sent before a failure of a later part
                metadata = {"event_type": REPLY_EVENT,
                            "event_payload": {"delivery_id": delivery.id, "part": n}}
                if n == 0 and reuse:
                    await client.chat_update(channel=ref.channel, ts=reuse, text=message.text,
                                             blocks=message.blocks, metadata=metadata)
                    posted.append(reuse)
                    continue
                async with self.pacer.slot(ref.channel):
                    response = await client.chat_postMessage(
                        channel=ref.channel, thread_ts=ref.thread_ts, text=message.text,
                        blocks=message.blocks, unfurl_links=False, metadata=metadata)
                posted.append(str(response["ts"]))
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            result = failure(exc)
            log.warning("slack_send_failed", delivery_id=delivery.id, status=result.status,
                        error=result.error)
            if result.status == "failed":
                self._forget(delivery)
            return result
        self._forget(delivery)
        return SendResult("sent", external_id=f"{ref.channel}:{posted[0]}" if posted else None)

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        """Look for the reply's parts in the conversation by their metadata.

        Parts found are remembered so a re-send posts only the missing ones; a
        "thinking…" placeholder left by the crashed worker is reused for the answer.
        """
        ref = parse_key(delivery.conversation_key)
        client = await self.client_for(ref.team)
        if client is None:
            return None
        limit = self.settings.slack_sent_check_limit
        try:
            if ref.thread_ts:
                page = await client.conversations_replies(
                    channel=ref.channel, ts=ref.thread_ts, limit=limit, include_all_metadata=True)
            else:
                page = await client.conversations_history(
                    channel=ref.channel, limit=limit, include_all_metadata=True)
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("slack_sent_check_failed", error=str(exc)[:200])
            return None
        parts: dict[int, str] = {}
        for found in page.get("messages") or []:
            meta = found.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == REPLY_EVENT and payload.get("delivery_id") == delivery.id:
                parts[int(payload.get("part", 0))] = str(found["ts"])
            elif (meta.get("event_type") == PLACEHOLDER_EVENT and delivery.reply_to is not None
                  and payload.get("message_id") == delivery.reply_to):
                self._orphans[delivery.id] = str(found["ts"])
        in_order = [parts[n] for n in range(len(parts)) if n in parts]
        self._posted[delivery.id] = in_order
        return bool(in_order) and len(in_order) == len(render_reply(delivery.reply))

    def _forget(self, delivery: PendingDelivery) -> None:
        self._posted.pop(delivery.id, None)
        self._orphans.pop(delivery.id, None)
        if delivery.reply_to is not None:
            self._progress.pop(delivery.reply_to, None)

    async def aclose(self) -> None:
        for progress in list(self._progress.values()):
            if progress.task is not None:
                progress.task.cancel()
        self._progress.clear()
