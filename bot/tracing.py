"""Tracing of turns: the contract the turn and the agent trace through, and tracing off.

The LangSmith implementation is the agent's (`bot.agent.tracing`); the turn only knows
this protocol, so a process without tracing pays nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

C = TypeVar("C")


class Run(Protocol):
    """A run being traced; outputs are attached before it ends."""

    def set_outputs(self, outputs: dict[str, Any]) -> None: ...


class _NoRun:
    def set_outputs(self, outputs: dict[str, Any]) -> None:
        return None


class Tracer(Protocol):
    """Opens traces and child runs, and wraps SDK clients so their calls are traced."""

    def turn(self, name: str, *, inputs: dict[str, Any], tags: list[str],
             metadata: dict[str, Any]) -> AbstractAsyncContextManager[Run]: ...

    def child(self, name: str, *, run_type: str,
              inputs: dict[str, Any]) -> AbstractAsyncContextManager[Run]: ...

    def wrap_client(self, client: C) -> C: ...

    async def aclose(self) -> None: ...


class NoTracer:
    """Tracing off: every method is a no-op."""

    @asynccontextmanager
    async def turn(self, name: str, *, inputs: dict[str, Any], tags: list[str],
                   metadata: dict[str, Any]) -> AsyncIterator[Run]:
        yield _NoRun()

    @asynccontextmanager
    async def child(self, name: str, *, run_type: str,
                    inputs: dict[str, Any]) -> AsyncIterator[Run]:
        yield _NoRun()

    def wrap_client(self, client: C) -> C:
        return client

    async def aclose(self) -> None:
        return None


