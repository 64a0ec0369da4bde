"""Running one tool call: validate, breaker, idempotency, timeout, retries, record.

Every outcome becomes a tool result for the model; nothing here raises to the
user. Circuit breakers come from purgatory (async-native, typed, per-name
breakers): pybreaker was rejected (its async support needs tornado) and
aiobreaker too (unmaintained, mixes naive local and UTC clocks).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from bot.agent import store
from bot.agent.messages import ToolCall, ToolResult
from bot.agent.metrics import AgentMetrics
from bot.agent.tools import (
    Tool,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolRegistry,
    ToolTransientError,
    idempotency_key,
)

log = structlog.get_logger(__name__)
Sleep = Callable[[float], Awaitable[None]]
MAX_RESULT_CHARS = 8000
TRANSIENT = (TimeoutError, ConnectionError, ToolTransientError)


@dataclass(frozen=True)
class ToolRun:
    """A tool call's result for the model plus what the loop needs to know."""

    result: ToolResult
    status: str  # ok, error, invalid, unavailable, timeout
    tool: Tool | None
    arguments: dict[str, Any]

    @property
    def failed_source(self) -> str | None:
        """The tool's title when it failed in a way the user should hear about."""
        if self.tool is not None and self.status in ("error", "timeout", "unavailable"):
            return self.tool.title
        return None


def render_output(output: ToolOutput) -> str:
    if output is None:
        text = "done"
    elif isinstance(output, str):
        text = output
    elif isinstance(output, BaseModel):
        text = output.model_dump_json()
    else:
        text = json.dumps(output, default=str, ensure_ascii=False)
    return text[:MAX_RESULT_CHARS]


def validation_message(exc: ValidationError) -> str:
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
                for e in exc.errors()]
    return "Invalid arguments: " + "; ".join(problems)


class ToolExecutor:
    """Executes tool calls for the agent loop; one per process, breakers shared."""

    def __init__(self, registry: ToolRegistry, metrics: AgentMetrics, *, breaker_failures: int,
                 breaker_cooldown_s: float, retry_attempts: int, retry_wait_s: float,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.registry = registry
        self.metrics = metrics
        self.breakers = AsyncCircuitBreakerFactory(default_threshold=breaker_failures,
                                                   default_ttl=breaker_cooldown_s)
        self.retry_attempts = max(1, retry_attempts)
        self.retry_wait_s = retry_wait_s
        self.sleep = sleep

    async def run(self, call: ToolCall, ctx: ToolContext, *, allowed: set[str],
                  timeout_s: float) -> ToolRun:
        tool = self.registry.get(call.name) if call.name in allowed else None
        if tool is None:
            return self._done(call, None, {}, "invalid",
                              f"There is no tool named {call.name!r}. Use only the listed tools.")
        if call.arguments is None:
            return self._done(call, tool, {}, "invalid",
                              "Invalid arguments: expected a JSON object matching the schema.")
        try:
            args = tool.input_model.model_validate(call.arguments)
        except ValidationError as exc:
            return self._done(call, tool, call.arguments, "invalid", validation_message(exc))
        arguments = args.model_dump(mode="json")
        key = idempotency_key(ctx.message_id, tool.name, arguments)
        if tool.side_effects:
            async with ctx.db.as_user(ctx.contact_id) as conn:
                stored = await store.stored_tool_result(conn, key)
            if stored is not None:
                self.metrics.tool_calls.labels(tool.name, "replayed").inc()
                return self._done(call, tool, arguments, "ok", stored)
        started = time.perf_counter()
        status, content, attempts = await self._guarded(tool, args, ctx, key, timeout_s)
        latency = (time.perf_counter() - started) * 1000
        if status != "ok" or not tool.side_effects:  # side effects record in their transaction
            await self._record(ctx, tool, arguments, key, status, content, attempts, latency)
        return self._done(call, tool, arguments, status, content)

    async def _guarded(self, tool: Tool, args: BaseModel, ctx: ToolContext, key: str,
                       timeout_s: float) -> tuple[str, str, int]:
        attempts = 0
        try:
            breaker = await self.breakers.get_breaker(tool.name, exclude=[ToolError])
            async with breaker:
                if tool.side_effects:
                    attempts = 1
                    return "ok", await self._with_effect(tool, args, ctx, key, timeout_s), 1
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.retry_attempts),
                    wait=wait_fixed(self.retry_wait_s), sleep=self.sleep, reraise=True,
                    retry=retry_if_exception_type(TRANSIENT),
                ):
                    with attempt:
                        attempts += 1
                        async with asyncio.timeout(timeout_s):
                            output = await tool.fn(args, ctx)
                return "ok", render_output(output), attempts
        except OpenedState:
            self.metrics.breaker_open.labels(tool.name).inc()
            return "unavailable", (f"The tool {tool.name} is temporarily unavailable. Do not "
                                   "call it again now; answer without it."), attempts
        except ToolError as exc:
            return "error", str(exc)[:MAX_RESULT_CHARS], attempts
        except TimeoutError:
            log.warning("tool_timeout", tool=tool.name)
            return "timeout", f"The tool {tool.name} did not answer in time.", attempts
        except Exception as exc:
            log.warning("tool_failed", tool=tool.name, error=type(exc).__name__)
            return "error", f"The tool {tool.name} failed.", attempts

    async def _with_effect(self, tool: Tool, args: BaseModel, ctx: ToolContext, key: str,
                           timeout_s: float) -> str:
        started = time.perf_counter()
        async with ctx.db.as_user(ctx.contact_id) as conn:
            bound = replace(ctx, idempotency_key=key, conn=conn)
            async with asyncio.timeout(timeout_s):
                content = render_output(await tool.fn(args, bound))
            await store.record_tool_call(conn, self._record_of(
                ctx, tool, args.model_dump(mode="json"), key, "ok", content, 1,
                (time.perf_counter() - started) * 1000))
        return content

    def _record_of(self, ctx: ToolContext, tool: Tool, arguments: dict[str, Any], key: str,
                   status: str, content: str, attempts: int,
                   latency_ms: float) -> store.ToolCallRecord:
        ok = status == "ok"
        return store.ToolCallRecord(
            contact_id=ctx.contact_id, conversation_id=ctx.conversation_id,
            session_id=ctx.session_id, message_id=ctx.message_id, tool=tool.name,
            arguments=arguments, side_effects=tool.side_effects, idempotency_key=key,
            status=status, result=content if ok else None, error=None if ok else content,
            attempts=max(1, attempts), latency_ms=latency_ms)

    async def _record(self, ctx: ToolContext, tool: Tool, arguments: dict[str, Any], key: str,
                      status: str, content: str, attempts: int, latency_ms: float) -> None:
        try:
            async with ctx.db.as_user(ctx.contact_id) as conn:
                await store.record_tool_call(conn, self._record_of(
                    ctx, tool, arguments, key, status, content, attempts, latency_ms))
        except Exception as exc:  # the answer matters more than the log row
            log.warning("tool_call_record_failed", tool=tool.name, error=type(exc).__name__)

    def _done(self, call: ToolCall, tool: Tool | None, arguments: dict[str, Any], status: str,
              content: str) -> ToolRun:
        self.metrics.tool_calls.labels(tool.name if tool else "unknown", status).inc()
        return ToolRun(result=ToolResult(call_id=call.id, content=content,
                                         is_error=status != "ok"),
                       status=status, tool=tool, arguments=arguments)
