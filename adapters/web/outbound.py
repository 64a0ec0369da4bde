"""Replies to the web chat: the page waits on its HTTP request (JSON or SSE) for the stored
reply, woken by the turn's progress events; the adapter's `send` only confirms it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from adapters.web.store import WebStore
from bot.channels.deps import ConversationFeed, TurnEvents
from bot.db.conversations import FoundConversation
from bot.models import IngestResult, OutboundReply

SLOW_REPLY = "The reply is taking longer than usual; it will appear in the history."
QUEUED = "Sent to our team; their reply will appear here."


class ReplyWaiter:
    """Waits for the reply to one message, at most `timeout_s`; follows a conversation."""

    def __init__(self, store: WebStore, events: TurnEvents, conversations: ConversationFeed,
                 timeout_s: float) -> None:
        self.store = store
        self.events = events
        self.conversations = conversations
        self.timeout_s = timeout_s

    async def wait(self, result: IngestResult) -> tuple[OutboundReply | None, str]:
        """The reply, or (None, "queued") at once when a person has the conversation, or
        (None, "pending") after the timeout."""
        deadline = time.monotonic() + self.timeout_s
        async with self.events.subscribe(result.message_id) as events:
            reply, status = await self.store.stored_reply(result)
            while reply is None and status != "queued":
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, "pending"
                try:
                    event = await asyncio.wait_for(events.get(), timeout=min(remaining, 1.0))
                except TimeoutError:
                    event = None
                if event is None or event.event in ("done", "error"):
                    reply, status = await self.store.stored_reply(result)
        return reply, status

    async def stream(self, result: IngestResult,
                     session_id: str) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events: received, the turn's progress, then done (or error); or
        `queued` when the message went to a person (their answer comes by `follow`)."""
        yield {"event": "status", "data": json.dumps(
            {"text": "received", "session_id": session_id, "message_id": result.message_id})}
        deadline = time.monotonic() + self.timeout_s
        async with self.events.subscribe(result.message_id) as events:
            reply, status = await self.store.stored_reply(result)
            while reply is None and status != "queued" and time.monotonic() < deadline:
                try:
                    event = await asyncio.wait_for(events.get(), timeout=1.0)
                except TimeoutError:
                    reply, status = await self.store.stored_reply(result)
                    continue
                if event.event in ("done", "error"):
                    reply, status = await self.store.stored_reply(result)
                    if reply is None and status != "queued" and event.event == "error":
                        yield {"event": "error", "data": json.dumps(event.data)}
                        return
                    break
                yield {"event": event.event, "data": json.dumps(event.data)}
        if reply is None and status == "queued":
            yield {"event": "queued", "data": json.dumps(
                {"session_id": session_id, "message_id": result.message_id, "text": QUEUED})}
            return
        if reply is None:
            yield {"event": "error", "data": json.dumps({"text": SLOW_REPLY})}
            return
        yield {"event": "done", "data": json.dumps(
            {"session_id": session_id, "message_id": result.message_id,
             "reply": reply.model_dump()})}

    async def follow(self, found: FoundConversation) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events of the messages sent into a conversation that no request of
        the page waits for: staff replies and notices (a bot reply goes to its request)."""
        async with self.conversations.follow(found.id) as notices:
            yield {"event": "ready", "data": "{}"}
            while True:
                notice = await notices.get()
                if notice.author is None and notice.reply_to is not None:
                    continue
                row = await self.store.sent(found, notice.message_id)
                if row is None:
                    continue
                reply = (OutboundReply.model_validate(row["rich"]) if row["rich"]
                         else OutboundReply(text=row["text"] or ""))
                yield {"event": "message", "data": json.dumps(
                    {"message_id": row["id"], "author": row["author"],
                     "reply": reply.model_dump()})}
