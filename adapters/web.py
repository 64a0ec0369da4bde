"""The web chat: a page at `/`, a JSON API and a streaming (SSE) variant.

The web "session id" is the conversation key, kept by the page in localStorage;
the identity is the optional `user` id of the page (so "New conversation" keeps
what the bot knows about the visitor), or the session id itself.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from adapters.base import Ingest, SendResult
from bot.db import messages
from bot.db.messages import IngestResult, PendingDelivery
from bot.models import InboundMessage, OutboundReply
from bot.sessions import close_conversation_session

if TYPE_CHECKING:
    from bot.runtime import Runtime

CHANNEL = "web"
_STATIC = Path(__file__).with_name("web_static")
_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


class ChatRequest(BaseModel):
    """One message from the web chat."""

    text: str = Field(default="", max_length=100_000)
    session_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    user: str | None = Field(default=None, pattern=_ID_PATTERN)
    payload: str | None = Field(default=None, max_length=2000)
    message_id: str | None = Field(default=None, pattern=_ID_PATTERN,
                                   description="Client idempotency key; a retry with the same "
                                               "id is answered once")


class ChatResponse(BaseModel):
    """The stored reply to a web chat message (None while it is still being worked on)."""

    session_id: str
    message_id: int
    reply: OutboundReply | None
    status: str


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def to_inbound(request: ChatRequest, session_id: str) -> InboundMessage:
    """Pure conversion of a chat request into the common form."""
    return InboundMessage(
        channel=CHANNEL,
        external_id=request.message_id or uuid4().hex,
        sender_id=request.user or session_id,
        conversation_key=session_id,
        text=request.text,
        payload=request.payload,
        raw={"session_id": session_id},
    )


class WebChatAdapter:
    """The always-on local channel."""

    name = CHANNEL
    streams_progress = True

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def send(self, delivery: PendingDelivery) -> SendResult:
        # The reply is already stored, which is where the page reads it from; the
        # deliverer's `done` event (this channel streams progress) wakes whoever waits.
        return SendResult(status="sent", external_id=f"web-{delivery.id}")

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        return True

    async def aclose(self) -> None:
        return None

    # --- HTTP
    async def _find(self, session_id: str) -> tuple[UUID, UUID, datetime | None] | None:
        async with self.runtime.db.autocommit() as conn:
            cur = await conn.execute("SELECT * FROM app.find_conversation(%s, %s)",
                                     (CHANNEL, session_id))
            row = await cur.fetchone()
        if row is None:
            return None
        return row["conversation_id"], row["contact_id"], row["last_activity_at"]

    def _expired(self, last_activity: datetime | None) -> bool:
        ttl = timedelta(hours=self.runtime.settings.web_session_ttl_hours)
        return last_activity is not None and datetime.now(UTC) - last_activity > ttl

    async def session_for(self, requested: str | None) -> str:
        if requested is None:
            return new_session_id()
        found = await self._find(requested)
        if found is not None and self._expired(found[2]):
            return new_session_id()
        return requested

    async def _stored_reply(self, result: IngestResult) -> tuple[OutboundReply | None, str]:
        async with self.runtime.db.as_user(result.contact_id) as conn:
            cur = await conn.execute(
                "SELECT i.status, o.rich, o.text FROM app.messages i"
                " LEFT JOIN app.messages o ON o.reply_to = i.id AND o.direction = 'out'"
                " WHERE i.id = %s ORDER BY o.reply_seq LIMIT 1",
                (result.message_id,),
            )
            row = await cur.fetchone()
        if row is None or (row["rich"] is None and row["text"] is None):
            return None, "pending"
        reply = (OutboundReply.model_validate(row["rich"]) if row["rich"]
                 else OutboundReply(text=row["text"]))
        return reply, str(row["status"])

    async def wait_reply(self, result: IngestResult) -> tuple[OutboundReply | None, str]:
        deadline = time.monotonic() + self.runtime.settings.web_reply_timeout_s
        async with self.runtime.events.subscribe(result.message_id) as events:
            reply, status = await self._stored_reply(result)
            while reply is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, "pending"
                try:
                    event = await asyncio.wait_for(events.get(), timeout=min(remaining, 1.0))
                except TimeoutError:
                    event = None
                if event is None or event.event in ("done", "error"):
                    reply, status = await self._stored_reply(result)
        return reply, status

    async def _stream(self, result: IngestResult, session_id: str) -> AsyncIterator[dict[str, Any]]:
        yield {"event": "status", "data": json.dumps(
            {"text": "received", "session_id": session_id, "message_id": result.message_id})}
        deadline = time.monotonic() + self.runtime.settings.web_reply_timeout_s
        async with self.runtime.events.subscribe(result.message_id) as events:
            reply, _ = await self._stored_reply(result)
            while reply is None and time.monotonic() < deadline:
                try:
                    event = await asyncio.wait_for(events.get(), timeout=1.0)
                except TimeoutError:
                    reply, _ = await self._stored_reply(result)
                    continue
                if event.event in ("done", "error"):
                    reply, _ = await self._stored_reply(result)
                    if reply is None and event.event == "error":
                        yield {"event": "error", "data": json.dumps(event.data)}
                        return
                    break
                yield {"event": event.event, "data": json.dumps(event.data)}
        if reply is None:
            yield {"event": "error", "data": json.dumps(
                {"text": "The reply is taking longer than usual; it will appear in the history."})}
            return
        yield {"event": "done", "data": json.dumps(
            {"session_id": session_id, "message_id": result.message_id,
             "reply": reply.model_dump()})}

    async def _refuse_if_limited(self, http: Request) -> JSONResponse | None:
        ip = http.client.host if http.client else "unknown"
        decision = await self.runtime.rate_limits.check_ip(ip)
        if decision.allowed:
            return None
        self.runtime.metrics.rate_limited.labels(decision.scope or "ip").inc()
        return JSONResponse(
            {"error": "You're sending messages too quickly. Please wait a moment.",
             "retryAfter": decision.retry_after_s},
            status_code=429, headers={"Retry-After": str(decision.retry_after_s)})

    def router(self, ingest: Ingest) -> APIRouter:
        api = APIRouter()

        @api.get("/", include_in_schema=False)
        async def page() -> FileResponse:
            return FileResponse(_STATIC / "index.html", media_type="text/html")

        @api.post("/api/chat", response_model=ChatResponse, tags=["web chat"],
                  responses={429: {"description": "Too many requests from this client"}})
        async def chat(request: ChatRequest, http: Request) -> ChatResponse | JSONResponse:
            if (refused := await self._refuse_if_limited(http)) is not None:
                return refused
            session_id = await self.session_for(request.session_id)
            result = await ingest(to_inbound(request, session_id))
            reply, status = await self.wait_reply(result)
            return ChatResponse(session_id=session_id, message_id=result.message_id,
                                reply=reply, status=status)

        @api.post("/api/chat/stream", tags=["web chat"], response_model=None,
                  responses={429: {"description": "Too many requests from this client"}})
        async def chat_stream(request: ChatRequest,
                              http: Request) -> EventSourceResponse | JSONResponse:
            if (refused := await self._refuse_if_limited(http)) is not None:
                return refused
            session_id = await self.session_for(request.session_id)
            result = await ingest(to_inbound(request, session_id))
            return EventSourceResponse(self._stream(result, session_id))

        @api.get("/api/sessions/{session_id}", tags=["web chat"])
        async def history(session_id: str) -> dict[str, Any]:
            found = await self._find(session_id)
            if found is None or self._expired(found[2]):
                raise HTTPException(404, detail="unknown or expired session")
            conversation_id, contact_id, _ = found
            async with self.runtime.db.as_user(contact_id) as conn:
                rows = await messages.history(conn, conversation_id, 500)
            return {"session_id": session_id, "messages": [
                {"id": r["id"], "direction": r["direction"], "text": r["text"],
                 "reply": r["rich"], "payload": r["payload"],
                 "created_at": r["created_at"].isoformat()} for r in rows]}

        @api.delete("/api/sessions/{session_id}", tags=["web chat"])
        async def close(session_id: str) -> dict[str, Any]:
            found = await self._find(session_id)
            if found is None:
                raise HTTPException(404, detail="unknown session")
            conversation_id, contact_id, _ = found
            async with self.runtime.db.as_user(contact_id) as conn:
                closed = await close_conversation_session(conn, conversation_id, "user_closed")
            return {"session_id": session_id, "closed": closed}

        return api
