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

    async def follow(self, found: FoundConversation,
                     after: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events of the conversation: `message` for every message sent into
        it (id: the message's id; bot replies too, with the message they answer as
        `reply_to`), `handoff` when its handoff changes state. With `after` (the client's
        Last-Event-ID) the messages it missed come first, each once."""
        async with self.conversations.follow(found.id) as notices:
            last = after or 0
            if after is not None:
                for row in await self.store.sent_since(found, after):
                    last = max(last, row["id"])
                    yield _message_event(row)
            yield {"event": "ready", "data": "{}"}
            while True:
                notice = await notices.get()
                if notice.kind == "handoff":
                    yield {"event": "handoff", "data": json.dumps(
                        {"status": notice.status, "staff": notice.author})}
                    continue
                if notice.message_id is None or notice.message_id <= last:
                    continue  # replayed already
                sent = await self.store.sent(found, notice.message_id)
                if sent is not None:
                    last = sent["id"]
                    yield _message_event(sent)


def _message_event(row: dict[str, Any]) -> dict[str, Any]:
    reply = (OutboundReply.model_validate(row["rich"]) if row["rich"]
             else OutboundReply(text=row["text"] or ""))
    return {"event": "message", "id": str(row["id"]), "data": json.dumps(
        {"message_id": row["id"], "reply_to": row["reply_to"], "author": row["author"],
         "from_human": row["author"] is not None, "reply": reply.model_dump()})}
