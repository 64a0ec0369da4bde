"""A small fake of Twilio's REST API on loopback, for the real twilio SDK to talk to.

Served by uvicorn on 127.0.0.1 (a free port) as an asyncio task. The adapter's
TWILIO_API_BASE_URL maps https://<product>.twilio.com/<path> to
<base>/<product>/<path>. It checks basic auth, records every request, and can be
scripted to fail the next calls (429 with Retry-After, 503, 400 with an error code).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    form: dict[str, list[str]] = field(default_factory=dict)
    json: Any = None
    ok: bool = False
    sid: str | None = None
    #: when it arrived (time.monotonic()), for end-to-end timings
    at: float = field(default_factory=time.monotonic)

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class Failure:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class FakeTwilio:
    """State and routes of the fake; `requests` is everything received, in order."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[Recorded] = []
        self.failures: dict[str, list[Failure | None]] = {}
        self.media = b"\x89PNG fake image bytes"
        #: other media by their SID (the URL's last segment): (bytes, content type)
        self.media_files: dict[str, tuple[bytes, str]] = {}
        self.base_url = ""
        #: share of message creations answered 503 at random (fault scenarios)
        self.fail_rate = 0.0
        #: while set and not yet open, message creations get no answer: an unreachable
        #: Twilio behind a route that drops packets, where the client waits for its own
        #: timeout (Twilio's edge answers in well under a second when it is reachable)
        self.hold_messages: asyncio.Event | None = None
        self.random = random.Random(7)

    # --- scripting
    def fail_next(self, kind: str, status: int, *, times: int = 1, retry_after: str | None = None,
                  code: int | None = None, message: str = "scripted failure",
                  after: int = 0) -> None:
        """Make `times` calls of `kind` (messages, content, typing) fail, after `after` succeed."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = {"code": code or status, "message": message, "status": status}
        script = self.failures.setdefault(kind, [])
        script.extend([None] * after + [Failure(status, headers, body)] * times)

    def sent(self) -> list[Recorded]:
        """Message creations that succeeded, in order."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(
            "/Messages.json") and r.ok]

    def of_kind(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if _kind(r.path) == kind]

    # --- HTTP
    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        recorded = Recorded(request.method, request.url.path)
        if request.headers.get("content-type", "").startswith("application/json"):
            recorded.json = json.loads(body or b"null")
        else:
            recorded.form = parse_qs(body.decode(), keep_blank_values=True)
        self.requests.append(recorded)
        if not self._authorised(request):
            # Every REST call needs basic auth (Account SID, Auth Token); a wrong pair is
            # HTTP 401, error 20003 (Twilio's error dictionary: /docs/errors/20003).
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        kind = _kind(recorded.path)
        if self.hold_messages is not None and kind == "messages" and request.method == "POST":
            await self.hold_messages.wait()
        queued = self.failures.get(kind)
        failure = queued.pop(0) if queued else None
        if (failure is None and kind == "messages" and request.method == "POST"
                and self.random.random() < self.fail_rate):
            failure = Failure(503, {}, {"code": 20503, "message": "unavailable", "status": 503})
        if failure is not None:
            return JSONResponse(failure.body, failure.status, headers=failure.headers)
        recorded.ok = True
        return self._answer(kind, recorded)

    def _answer(self, kind: str, recorded: Recorded) -> Response:
        if kind == "messages" and recorded.method == "POST":
            sid = recorded.sid = "SM" + secrets.token_hex(16)
            return JSONResponse({
                "sid": sid, "account_sid": self.account_sid, "status": "queued",
                "to": recorded.field("To"), "from": recorded.field("From"),
                "body": recorded.field("Body") or "", "num_media": "0", "num_segments": "1",
                "direction": "outbound-api", "api_version": "2010-04-01",
                "date_created": "Sat, 21 Nov 2026 10:00:00 +0000", "uri": recorded.path,
            }, 201)
        if kind == "messages":
            return JSONResponse({"messages": [], "next_page_uri": None, "page": 0,
                                 "page_size": 50, "uri": recorded.path})
        if kind == "content":
            return JSONResponse({"sid": "HX" + secrets.token_hex(16),
                                 "account_sid": self.account_sid,
                                 "friendly_name": (recorded.json or {}).get("friendly_name"),
                                 "types": (recorded.json or {}).get("types")}, 201)
        if kind == "typing":
            return JSONResponse({"success": True})
        if kind == "media":
            data, media_type = self.media_files.get(recorded.path.rsplit("/", 1)[-1],
                                                    (self.media, "image/png"))
            return Response(data, media_type=media_type)
        # An unknown resource is HTTP 404, error 20404 (Twilio's error dictionary).
        return JSONResponse({"code": 20404, "message": "not found", "status": 404}, 404)


def _kind(path: str) -> str:
    if "/Media/" in path:
        return "media"
    if path.endswith("/Messages.json"):
        return "messages"
    if path.startswith("/content/"):
        return "content"
    if path.startswith("/messaging/") and "Typing" in path:
        return "typing"
    return "other"


class _QuietServer(uvicorn.Server):
    """Leaves signal handling to the test runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def running_fake_twilio(account_sid: str, auth_token: str) -> AsyncIterator[FakeTwilio]:
    """Serve a fresh fake on 127.0.0.1 for the duration of the block."""
    fake = FakeTwilio(account_sid, auth_token)
    app = Starlette(routes=[Route("/{path:path}", fake.handle,
                                  methods=["GET", "POST", "DELETE"])])
    server = _QuietServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                         lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
