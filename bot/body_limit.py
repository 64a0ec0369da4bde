"""Request bodies over HTTP_MAX_BODY_BYTES are refused with 413 while they are read.

A declared Content-Length over the limit is refused before any of the body is read; a
body without one (chunked) is refused once it passes the limit. Either way nobody can
make the process hold more than the limit per request (six 50 MB bodies in parallel once
took 260 MB). Channels may keep tighter limits of their own (WHATSAPP_MAX_FORM_BYTES).
Starlette has no such limit and uvicorn only bounds header sizes, hence this middleware.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from `receive` past the limit: FastAPI and Starlette answer an HTTPException
    with its status, wherever the body is being read."""

    def __init__(self) -> None:
        super().__init__(413, "request body too large")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSONResponse({"detail": "request body too large",
                               "max_bytes": self.max_bytes}, status_code=413,
                              headers={"connection": "close"})
        await answer(scope, receive, send)
