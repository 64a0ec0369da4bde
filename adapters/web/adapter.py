"""The always-on local channel: its HTTP API and its (trivial) delivery."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sse_starlette.sse import EventSourceResponse

from adapters.web.inbound import CHANNEL, ChatRequest, ChatResponse, new_session_id, to_inbound
from adapters.web.outbound import ReplyWaiter
from adapters.web.store import WebStore
from bot.channels import ChannelDeps, ChannelTraits, Ingest, SendResult
from bot.models import ConversationNotice, IngestResult, OutboundReply, PendingDelivery

_STATIC = Path(__file__).with_name("static")
log = structlog.get_logger(__name__)
_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many requests from this client"}}


class WebChatAdapter:
    """The web chat page, its JSON and SSE API, and delivery to the waiting page."""

    name = CHANNEL
    streams_progress = True
    traits = ChannelTraits()

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps
        s = deps.settings
        self.store = WebStore(deps.db, timedelta(hours=s.web_session_ttl_hours))
        self.replies = ReplyWaiter(self.store, deps.turn_events, deps.conversations,
                                   s.web_reply_timeout_s)

    async def send(self, delivery: PendingDelivery) -> SendResult:
        # The reply is already stored, which is where the page reads it from; the
        # deliverer's `done` event (this channel streams progress) wakes whoever waits on
        # the message it answers, and the conversation's followers (the open page) hear
        # of it too: staff replies and notices arrive without the customer asking.
        notice = ConversationNotice(conversation_id=delivery.conversation_id,
                                    message_id=delivery.id, reply_to=delivery.reply_to,
                                    author=delivery.author)
        try:
            await self.deps.conversations.announce(notice)
        except Exception as exc:  # the page still finds it in the history
            log.warning("web_notice_failed", message_id=delivery.id, error=type(exc).__name__)
        return SendResult(status="sent", external_id=f"web-{delivery.id}")

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        return True

    async def aclose(self) -> None:
        return None

    async def wait_reply(self, result: IngestResult) -> tuple[OutboundReply | None, str]:
        """The reply to a stored message, or (None, "pending") after WEB_REPLY_TIMEOUT_S."""
        return await self.replies.wait(result)

    async def session_for(self, requested: str | None) -> str:
        """The page's session, or a new one when it has none or it expired."""
        if requested is None:
            return new_session_id()
        found = await self.store.find(requested)
        if found is not None and self.store.expired(found):
            return new_session_id()
        return requested

    async def _refuse_if_limited(self, http: Request) -> JSONResponse | None:
        ip = http.client.host if http.client else "unknown"
        decision = await self.deps.client_limits.check_ip(ip)
        if decision.allowed:
            return None
        self.deps.metrics.rate_limited.labels(decision.scope or "ip").inc()
        return JSONResponse(
            {"error": "You're sending messages too quickly. Please wait a moment.",
             "retryAfter": decision.retry_after_s},
            status_code=429, headers={"Retry-After": str(decision.retry_after_s)})

    def router(self, ingest: Ingest) -> APIRouter:
        api = APIRouter()

        # The page carries the bot's name and welcome (escaped: they are the bot author's
        # text, but a page must never trust text it did not write).
        profile = self.deps.profile
        page_html = (_STATIC / "index.html").read_text(encoding="utf-8").replace(
            "{{bot_name}}", html.escape(profile.name)).replace(
            "{{welcome}}", html.escape(profile.welcome, quote=True))

        @api.get("/", include_in_schema=False)
        async def page() -> HTMLResponse:
            return HTMLResponse(page_html)

        @api.post("/api/chat", response_model=ChatResponse, tags=["web chat"],
                  responses=_LIMITED)
        async def chat(request: ChatRequest, http: Request) -> ChatResponse | JSONResponse:
            if (refused := await self._refuse_if_limited(http)) is not None:
                return refused
            session_id = await self.session_for(request.session_id)
            result = await ingest(to_inbound(request, session_id))
            reply, status = await self.wait_reply(result)
            return ChatResponse(session_id=session_id, message_id=result.message_id,
                                reply=reply, status=status)

        @api.post("/api/chat/stream", tags=["web chat"], response_model=None,
                  responses=_LIMITED)
        async def chat_stream(request: ChatRequest,
                              http: Request) -> EventSourceResponse | JSONResponse:
            if (refused := await self._refuse_if_limited(http)) is not None:
                return refused
            session_id = await self.session_for(request.session_id)
            result = await ingest(to_inbound(request, session_id))
            return EventSourceResponse(self.replies.stream(result, session_id))

        @api.get("/api/sessions/{session_id}", tags=["web chat"])
        async def history(session_id: str) -> dict[str, Any]:
            found = await self.store.find(session_id)
            if found is None or self.store.expired(found):
                raise HTTPException(404, detail="unknown or expired session")
            rows = await self.store.history(found)
            return {"session_id": session_id, "messages": [
                {"id": r["id"], "direction": r["direction"], "text": r["text"],
                 "reply": r["rich"], "payload": r["payload"], "author": r["author"],
                 "created_at": r["created_at"].isoformat()} for r in rows]}

        @api.get("/api/sessions/{session_id}/events", tags=["web chat"], response_model=None)
        async def session_events(session_id: str) -> EventSourceResponse:
            """Server-sent events: each message staff or the bot send into the conversation
            on their own (not the reply the page is waiting for on its POST)."""
            found = await self.store.find(session_id)
            if found is None or self.store.expired(found):
                raise HTTPException(404, detail="unknown or expired session")
            return EventSourceResponse(self.replies.follow(found), ping=15)

        @api.delete("/api/sessions/{session_id}", tags=["web chat"])
        async def close(session_id: str) -> dict[str, Any]:
            found = await self.store.find(session_id)
            if found is None:
                raise HTTPException(404, detail="unknown session")
            return {"session_id": session_id, "closed": await self.store.close(found)}

        return api
