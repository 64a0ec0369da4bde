"""A fake LangSmith endpoint on loopback: accepts run ingestion and keeps the bodies."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from testing.loopback import LoopbackServer

_PART = re.compile(rb'name="(?P<name>[^"]+)"\r\n(?:[^\r\n]+\r\n)*\r\n(?P<body>.*?)\r\n--',
                   re.S)


class FakeLangSmith(LoopbackServer):
    """Records every multipart part by its name ("post.<run id>", "post.<id>.inputs", ...)."""

    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}
        self.raw: list[bytes] = []
        app = Starlette(routes=[Route("/{path:path}", self._any,
                                      methods=["GET", "POST", "PATCH", "PUT"])])
        super().__init__(app)

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
