"""Replies to the web chat: the page waits on its HTTP request (JSON or SSE) for the stored
reply, woken by the turn's progress events; the adapter's `send` only confirms it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from adapters.web.store import WebStore
from bot.channels.deps import TurnEvents
from bot.models import IngestResult, OutboundReply

SLOW_REPLY = "The reply is taking longer than usual; it will appear in the history."


class ReplyWaiter:
    """Waits for the reply to one message, at most `timeout_s`."""

    def __init__(self, store: WebStore, events: TurnEvents, timeout_s: float) -> None:
        self.store = store
        self.events = events
        self.timeout_s = timeout_s

    async def wait(self, result: IngestResult) -> tuple[OutboundReply | None, str]:
        deadline = time.monotonic() + self.timeout_s
        async with self.events.subscribe(result.message_id) as events:
            reply, status = await self.store.stored_reply(result)
            while reply is None:
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
        """Server-sent events: received, the turn's progress, then done (or error)."""
        yield {"event": "status", "data": json.dumps(
            {"text": "received", "session_id": session_id, "message_id": result.message_id})}
        deadline = time.monotonic() + self.timeout_s
        async with self.events.subscribe(result.message_id) as events:
            reply, _ = await self.store.stored_reply(result)
            while reply is None and time.monotonic() < deadline:
                try:
                    event = await asyncio.wait_for(events.get(), timeout=1.0)
                except TimeoutError:
                    reply, _ = await self.store.stored_reply(result)
                    continue
                if event.event in ("done", "error"):
                    reply, _ = await self.store.stored_reply(result)
                    if reply is None and event.event == "error":
                        yield {"event": "error", "data": json.dumps(event.data)}
                        return
                    break
                yield {"event": event.event, "data": json.dumps(event.data)}
        if reply is None:
            yield {"event": "error", "data": json.dumps({"text": SLOW_REPLY})}
            return
        yield {"event": "done", "data": json.dumps(
            {"session_id": session_id, "message_id": result.message_id,
             "reply": reply.model_dump()})}
