"""A web chat client over a started runtime: the API a browser uses, through ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from adapters.web.identity import VISITOR_COOKIE
from bot.app import create_app
from bot.runtime import Runtime


class ChatClient:
    """One visitor of the web chat: keeps the session id between messages, and its own
    visitor cookie (clients may share one httpx client, so not its cookie jar)."""

    def __init__(self, http: httpx.AsyncClient, user: str | None = None) -> None:
        self.http = http
        self.user = user
        self.session_id: str | None = None
        self.message_id: int | None = None  # of the last message sent
        self.visitor = ""  # an empty cookie: the server issues a new visitor

    async def say(self, text: str, payload: str | None = None) -> dict[str, Any]:
        """Send a message (or a tapped option) and return the stored reply."""
        body: dict[str, Any] = {"text": text}
        if self.session_id:
            body["session_id"] = self.session_id
        if self.user:
            body["user"] = self.user
        if payload:
            body["payload"] = payload
        response = await self.http.post("/api/chat", json=body,
                                        headers={"cookie": f"{VISITOR_COOKIE}={self.visitor}"})
        assert response.status_code == 200, response.text
        self.visitor = response.cookies.get(VISITOR_COOKIE) or self.visitor
        data = response.json()
        self.session_id = data["session_id"]
        self.message_id = data["message_id"]
        assert data["status"] == "answered", data
        reply: dict[str, Any] = data["reply"]
        return reply


@asynccontextmanager
async def chat_http(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(rt.settings, runtime=rt)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test", timeout=60) as http:
        yield http


def option_titles(reply: dict[str, Any]) -> list[str]:
    return [o["title"] for part in reply["parts"] for o in part.get("options", [])]
