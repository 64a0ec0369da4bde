"""A fake LangSmith endpoint on loopback: accepts run ingestion and keeps the bodies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_PART = re.compile(rb'name="(?P<name>[^"]+)"\r\n(?:[^\r\n]+\r\n)*\r\n(?P<body>.*?)\r\n--',
                   re.S)


class FakeLangSmith:
    """Records every multipart part by its name ("post.<run id>", "post.<id>.inputs", ...)."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}
        self.raw: list[bytes] = []
        app = Starlette(routes=[Route("/{path:path}", self._any,
                                      methods=["GET", "POST", "PATCH", "PUT"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def _any(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.raw.append(body)
        for match in _PART.finditer(body):
            with contextlib.suppress(ValueError):
                self.parts[match["name"].decode()] = json.loads(match["body"])
        return JSONResponse({})

    def runs(self) -> dict[str, dict[str, Any]]:
        """Runs by name, each with its inputs and outputs attached."""
        found: dict[str, dict[str, Any]] = {}
        for name, value in self.parts.items():
            kind, _, rest = name.partition(".")
            if kind in ("post", "patch") and "." not in rest and isinstance(value, dict):
                run = {**value, "inputs": self.parts.get(f"{name}.inputs"),
                       "outputs": self.parts.get(f"{name}.outputs")
                       or self.parts.get(f"patch.{rest}.outputs")}
                found.setdefault(str(value.get("name")), run)
        return found

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 (uvicorn exposes only a flag)
            await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
