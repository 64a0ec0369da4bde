"""A small fake of Slack's Web API on loopback, for the real slack-sdk client.

It records every call (method, arguments) and answers like Slack: `{"ok": true, ...}`,
or an `{"ok": false, "error": ...}` body, or a scripted HTTP failure such as 429 with
Retry-After. Tests point `SLACK_API_BASE_URL` at `url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from testing.loopback import serve

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"


@dataclass
class Call:
    """One Web API request as the fake received it."""

    method: str
    args: dict[str, Any]
    token: str | None
    at: float
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeSlackApi:
    """State and behaviour of the fake; `failures` are served first, per method."""

    team_id: str = "T1"
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, int, dict[str, str], dict[str, Any]]]] = field(
        default_factory=dict)
    assistant_threads: bool = False
    users: dict[str, str] = field(default_factory=lambda: {"U1": "Alice", "U2": "Bob"})
    #: message ts start at a random point, so two fakes never hand out the same ts
    #: (handoff records keep them in the database shared by a test run)
    _ts: itertools.count[int] = field(
        default_factory=lambda: itertools.count(random.randrange(1, 900_000)))
    #: Socket Mode: envelopes to push to the connected app, and what it answered
    socket_outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    #: what the bot has posted, by ts, as conversations.history/replies return it
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: share of posts and updates answered HTTP 500 at random (fault scenarios)
    fail_rate: float = 0.0
    #: calls of these methods wait until their event is set
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    random: random.Random = field(default_factory=lambda: random.Random(11))

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def fail(self, method: str, status: int, *, headers: dict[str, str] | None = None,
             error: str = "ratelimited", times: int = 1, after: int = 0) -> None:
        """The next `times` calls of `method` fail, once `after` more calls have succeeded."""
        start = len(self.of(method)) + after
        self.failures.setdefault(method, []).extend(
            [(start, status, headers or {}, {"ok": False, "error": error})] * times)

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "user": "bot",
                    "team_id": self.team_id, "team": "Test team", "url": "https://t.slack.com/"}
        if method == "users.info":
            name = self.users.get(str(args.get("user")))
            if name is None:  # users.info's reference: `user_not_found` for an unknown id
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": args["user"], "name": name.lower(),
                                         "real_name": name, "profile": {"display_name": name}}}
        if method in ("chat.postMessage", "chat.startStream"):
            ts = self.next_ts()
            self.messages[ts] = {"ts": ts, "channel": args.get("channel"),
                                 "thread_ts": args.get("thread_ts"), "text": args.get("text"),
                                 "metadata": args.get("metadata"), "bot_id": BOT_ID}
            return {"ok": True, "channel": args.get("channel"), "ts": ts}
        if method == "chat.update" and args.get("ts") in self.messages:
            self.messages[args["ts"]].update(text=args.get("text"),
                                             metadata=args.get("metadata"))
        if method in ("chat.update", "chat.appendStream", "chat.stopStream"):
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method in ("conversations.replies", "conversations.history"):
            thread = args.get("ts")
            found = [m for m in self.messages.values() if m["channel"] == args.get("channel")
                     and (m["thread_ts"] == thread if thread else not m["thread_ts"])]
            if not args.get("include_all_metadata"):
                found = [{k: v for k, v in m.items() if k != "metadata"} for m in found]
            return {"ok": True, "messages": found, "has_more": False}
        if method == "assistant.threads.setStatus":
            # Only for an app with AI-assistant threads (assistant.threads.setStatus's
            # reference); otherwise it fails with ok false, whose code the adapter ignores.
            return {"ok": True} if self.assistant_threads else {"ok": False,
                                                                 "error": "not_allowed"}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.url.replace("http://", "ws://") + "socket"}
        if method == "oauth.v2.access":
            return {"ok": True, "app_id": "A1", "access_token": "xoxb-installed",
                    "token_type": "bot", "scope": "chat:write", "bot_user_id": BOT_USER_ID,
                    "team": {"id": "T9", "name": "Installed"}, "enterprise": None,
                    "is_enterprise_install": False,
                    "authed_user": {"id": "U9", "scope": "", "access_token": None}}
        return {"ok": True}

    async def handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        body = await request.body()
        args: dict[str, Any] = dict(request.query_params)
        if body:
            if request.headers.get("content-type", "").startswith("application/json"):
                args.update(json.loads(body))
            else:
                args.update(parse_qsl(body.decode()))
        for key in ("blocks", "chunks", "metadata"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = request.headers.get("authorization", "")
        call = Call(method, args, auth.removeprefix("Bearer ") or None, time.monotonic())
        self.calls.append(call)
        if method in self.held:
            await self.held[method].wait()
        pending = self.failures.get(method)
        if pending and len(self.of(method)) > pending[0][0]:
            _, status, headers, call.result = pending.pop(0)
            return JSONResponse(call.result, status_code=status, headers=headers)
        if (method in ("chat.postMessage", "chat.update")
                and self.random.random() < self.fail_rate):
            call.result = {"ok": False, "error": "internal_error"}
            return JSONResponse(call.result, status_code=500)
        call.result = self.answer(method, args)
        return JSONResponse(call.result)

    async def socket(self, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json({"type": "hello", "num_connections": 1})

        async def read() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    self.socket_acks.append(json.loads(await ws.receive_text()))
        reader = asyncio.create_task(read())
        try:
            while not reader.done():
                getter = asyncio.ensure_future(self.socket_outbox.get())
                await asyncio.wait([getter, reader], return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    await ws.send_json(getter.result())
                else:
                    getter.cancel()
        finally:
            reader.cancel()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/{method}", self.handle, methods=["GET", "POST"]),
                                 WebSocketRoute("/api/socket", self.socket)])


@contextlib.asynccontextmanager
async def serve_fake_slack() -> AsyncIterator[FakeSlackApi]:
    """Run the fake on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeSlackApi()
    async with serve(fake.app()) as base:
        fake.url = f"{base}/api/"
        yield fake
