"""The always-on local channel: its HTTP API and its (trivial) delivery."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sse_starlette.sse import EventSourceResponse

from adapters.web.identity import (
    VISITOR_COOKIE,
    IdentityRefused,
    WebIdentity,
    identify,
)
from adapters.web.inbound import CHANNEL, ChatRequest, ChatResponse, new_session_id, to_inbound
from adapters.web.outbound import ReplyWaiter
from adapters.web.store import WebStore
from bot.channels import ChannelDeps, ChannelTraits, Ingest, SendResult
from bot.db.conversations import FoundConversation
from bot.models import IngestResult, OutboundReply, PendingDelivery

_STATIC = Path(__file__).with_name("static")
#: how long a visitor is recognised (the cookie's lifetime)
VISITOR_COOKIE_DAYS = 365
_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many requests from this client"}}


class WebChatAdapter:
    """The web chat page, its JSON and SSE API, and delivery to the waiting page."""

    name = CHANNEL
    streams_progress = True
    traits = ChannelTraits(announces_deliveries=True)

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps
        s = deps.settings
        self.store = WebStore(deps.db, timedelta(hours=s.web_session_ttl_hours))
        # behind https (PUBLIC_BASE_URL) the visitor cookie never travels over plain http
        self.secure_cookie = (s.public_base_url or "").startswith("https://")
        self.replies = ReplyWaiter(self.store, deps.turn_events, deps.conversations,
                                   s.web_reply_timeout_s)

    async def send(self, delivery: PendingDelivery) -> SendResult:
        # The reply is already stored, which is where the page reads it from; the
        # deliverer's `done` event (this channel streams progress) wakes whoever waits on
        # the message it answers, and its conversation notice the open page.
        return SendResult(status="sent", external_id=f"web-{delivery.id}")

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        return True

    async def aclose(self) -> None:
        return None

    async def wait_reply(self, result: IngestResult) -> tuple[OutboundReply | None, str]:
        """The reply to a stored message, or (None, "pending") after WEB_REPLY_TIMEOUT_S."""
        return await self.replies.wait(result)

    def identify(self, http: Request, user: str | None,
                 given_hash: str | None) -> WebIdentity:
        """The caller's identity (raises IdentityRefused for a user it cannot verify)."""
        return identify(user, given_hash, http.cookies.get(VISITOR_COOKIE),
                        self.deps.settings.web_identity_secret)

    async def own_session(self, session_id: str, who: WebIdentity) -> FoundConversation | None:
        """The caller's conversation with this session id; None when there is none or it
        is someone else's (which must look exactly like one that does not exist)."""
        found, theirs = await self.store.find_for(session_id, who.sender_id)
        if found is None or not theirs or self.store.expired(found):
            return None
        return found

    async def session_for(self, requested: str | None, who: WebIdentity) -> str:
        """The page's session, or a new one when it has none or it expired; 404 for a
        session of someone else."""
        if requested is None:
            return new_session_id()
        found, theirs = await self.store.find_for(requested, who.sender_id)
        if found is None:
            return requested
        if not theirs:
            raise HTTPException(404, detail="unknown session")
        return new_session_id() if self.store.expired(found) else requested

    def _with_visitor(self, response: Response, who: WebIdentity) -> Response:
        if who.new_token is not None:
            response.set_cookie(VISITOR_COOKIE, who.new_token, max_age=VISITOR_COOKIE_DAYS * 86400,
                                httponly=True, samesite="lax", secure=self.secure_cookie,
                                path="/")
        return response

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
            "{{welcome}}", html.escape(profile.welcome, quote=True)).replace(
            "{{max_chars}}", str(self.deps.settings.max_message_chars))

        @api.get("/", include_in_schema=False)
        async def page() -> HTMLResponse:
            return HTMLResponse(page_html)

        async def take(request: ChatRequest,
                       http: Request) -> Response | tuple[WebIdentity, str, IngestResult]:
            """Limits, identity and session checked, the message stored; or the refusal."""
            if (refused := await self._refuse_if_limited(http)) is not None:
                return refused
            try:
                who = self.identify(http, request.user, request.user_hash)
            except IdentityRefused as refusal:
                return JSONResponse({"error": refusal.reason}, status_code=refusal.status)
            session_id = await self.session_for(request.session_id, who)
            return who, session_id, await ingest(to_inbound(request, session_id, who.sender_id))

        @api.post("/api/chat", response_model=ChatResponse, tags=["web chat"],
                  responses=_LIMITED)
        async def chat(request: ChatRequest, http: Request) -> Response:
            taken = await take(request, http)
            if isinstance(taken, Response):
                return taken
            who, session_id, result = taken
            reply, status = await self.wait_reply(result)
            answer = ChatResponse(session_id=session_id, message_id=result.message_id,
                                  reply=reply, status=status)
            return self._with_visitor(JSONResponse(answer.model_dump(mode="json")), who)

        @api.post("/api/chat/stream", tags=["web chat"], response_model=None,
                  responses=_LIMITED)
        async def chat_stream(request: ChatRequest, http: Request) -> Response:
            taken = await take(request, http)
            if isinstance(taken, Response):
                return taken
            who, session_id, result = taken
            return self._with_visitor(
                EventSourceResponse(self.replies.stream(result, session_id)), who)

        async def session_of(http: Request, session_id: str, user: str | None,
                             user_hash: str | None) -> FoundConversation:
            try:
                who = self.identify(http, user, user_hash)
            except IdentityRefused as refusal:
                raise HTTPException(refusal.status, detail=refusal.reason) from refusal
            found = await self.own_session(session_id, who)
            if found is None:
                raise HTTPException(404, detail="unknown or expired session")
            return found

        @api.get("/api/sessions/{session_id}", tags=["web chat"])
        async def history(session_id: str, http: Request, user: str | None = None,
                          user_hash: str | None = None) -> dict[str, Any]:
            found = await session_of(http, session_id, user, user_hash)
            rows = await self.store.history(found)
            return {"session_id": session_id, "messages": [
                {"id": r["id"], "direction": r["direction"], "text": r["text"],
                 "reply": r["rich"], "payload": r["payload"], "author": r["author"],
                 "created_at": r["created_at"].isoformat()} for r in rows]}

        @api.get("/api/sessions/{session_id}/events", tags=["web chat"], response_model=None)
        async def session_events(session_id: str, http: Request, user: str | None = None,
                                 user_hash: str | None = None) -> EventSourceResponse:
            """Server-sent events: every message sent into the conversation and its handoff's
            changes, resumable with Last-Event-ID; a ping every 15 s keeps proxies open."""
            found = await session_of(http, session_id, user, user_hash)
            resume = http.headers.get("last-event-id", "")
            after = int(resume) if resume.isascii() and resume.isdigit() else None
            return EventSourceResponse(self.replies.follow(found, after), ping=15)

        @api.delete("/api/sessions/{session_id}", tags=["web chat"])
        async def close(session_id: str, http: Request, user: str | None = None,
                        user_hash: str | None = None) -> dict[str, Any]:
            found = await session_of(http, session_id, user, user_hash)
            return {"session_id": session_id, "closed": await self.store.close(found)}

        return api
