"""LangSmith tracing of turns (a `bot.tracing.Tracer`), on with LANGSMITH_API_KEY and
LANGSMITH_TRACING.

`langsmith` is imported only when tracing is on, so a process without it pays
nothing. A turn is one trace; each LLM call (through wrap_anthropic /
wrap_openai) and each tool call is a child run. Phone numbers and e-mail
addresses are masked in every input and output before they leave the process.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from bot.settings.agent import AgentSettings
from bot.tracing import NoTracer, Run, Tracer

C = TypeVar("C")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{6,}\d(?![\w])")


def mask_text(text: str) -> str:
    """Replace e-mail addresses and phone-like numbers (7+ digits) with placeholders."""
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub(lambda m: "[phone]" if sum(c.isdigit() for c in m.group()) >= 7
                      else m.group(), text)


def mask(value: Any) -> Any:
    """Mask identifiers anywhere in a JSON-like value (used as hide_inputs/hide_outputs)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value


class _LangSmithRun:
    def __init__(self, run: Any) -> None:
        self.run = run

    def set_outputs(self, outputs: dict[str, Any]) -> None:
        self.run.add_outputs(outputs)


class LangSmithTracer:
    """Traces to LangSmith with a client that masks inputs and outputs."""

    def __init__(self, settings: AgentSettings) -> None:
        import langsmith

        assert settings.langsmith_api_key is not None
        self._ls = langsmith
        self.project = settings.langsmith_project
        self.client = langsmith.Client(
            api_key=settings.langsmith_api_key.get_secret_value(),
            api_url=settings.langsmith_endpoint, hide_inputs=mask, hide_outputs=mask)

    @asynccontextmanager
    async def turn(self, name: str, *, inputs: dict[str, Any], tags: list[str],
                   metadata: dict[str, Any]) -> AsyncIterator[Run]:
        with self._ls.tracing_context(enabled=True, client=self.client,
                                      project_name=self.project):
            async with self._ls.trace(name, "chain", inputs=inputs, tags=tags,
                                      metadata=metadata, client=self.client,
                                      project_name=self.project) as run:
                yield _LangSmithRun(run)

    @asynccontextmanager
    async def child(self, name: str, *, run_type: str,
                    inputs: dict[str, Any]) -> AsyncIterator[Run]:
        async with self._ls.trace(name, run_type, inputs=inputs,  # type: ignore[arg-type]
                                  client=self.client) as run:
            yield _LangSmithRun(run)

    def wrap_client(self, client: C) -> C:
        from langsmith import wrappers

        module = type(client).__module__
        if module.startswith("anthropic"):
            return wrappers.wrap_anthropic(client)
        if module.startswith("openai"):
            return wrappers.wrap_openai(client)
        return client

    async def aclose(self) -> None:
        await asyncio.to_thread(self.client.flush)  # sends what is still queued


def build_tracer(settings: AgentSettings) -> Tracer:
    return LangSmithTracer(settings) if settings.langsmith_enabled else NoTracer()
