"""The tool-calling loop: ask the model, run the tools it asks for, repeat, answer.

State the responder needs after a limit or deadline (the best text so far, tools
that failed) lives on the loop object, so it survives the deadline's cancellation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import structlog

from bot.agent.budget import TurnLimits
from bot.agent.builtin_tools import ESCALATION_TOOL
from bot.agent.errors import LLMTransientError
from bot.agent.executor import ToolExecutor, ToolRun
from bot.agent.llm import CallScope, LLMCaller
from bot.agent.messages import (
    LLMRequest,
    Message,
    OnText,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from bot.agent.metrics import AgentMetrics
from bot.agent.tools import Tool, ToolContext, canonical_arguments
from bot.routing.responder import Emit
from bot.tracing import Tracer

log = structlog.get_logger(__name__)

WRAP_UP = ("Stop using tools now. Answer the person with what you have found so far, and "
           "say briefly what you could not finish.")
# Limits after which one more model call (without tools) writes the answer.
WRAP_UP_AFTER = ("max_iterations", "repeated_call", "no_progress", "session_tool_cap")

LIMIT_NOTES = {
    "max_iterations": "I couldn't finish everything this needed, so this answer may be "
                      "incomplete.",
    "deadline": "I couldn't finish this in time, so this answer may be incomplete. "
                "Please try again.",
    "session_tool_cap": "I've done as many lookups as I can in this conversation, so I "
                        "couldn't finish this.",
    "repeated_call": "I couldn't get any further with this request.",
    "no_progress": "I couldn't get any further with this request.",
}


@dataclass
class LoopState:
    """What the loop has achieved so far."""

    best_text: str = ""
    final: bool = False
    stop: str | None = None
    iterations: int = 0
    failed_sources: list[str] = field(default_factory=list)
    recovered_sources: set[str] = field(default_factory=set)
    escalation_reason: str | None = None
    # Set while the model is being retried; a deadline hit then means "busy", not "slow".
    retrying: bool = False
    # A call to a `confirm` tool, held until the person says yes (bot/agent/confirm.py).
    pending: ToolCall | None = None


class AgentLoop:
    """One turn's loop over model calls and tool calls, within `limits`."""

    def __init__(self, *, caller: LLMCaller, executor: ToolExecutor, tracer: Tracer,
                 metrics: AgentMetrics, limits: TurnLimits, tools: list[Tool], scope: CallScope,
                 ctx: ToolContext, emit: Emit, stream: bool, session_tool_calls: int,
                 confirm: frozenset[str] = frozenset()) -> None:
        self.caller = caller
        self.executor = executor
        self.tracer = tracer
        self.metrics = metrics
        self.limits = limits
        self.tools = tools
        self.scope = scope
        self.ctx = ctx
        self.emit = emit
        self.stream = stream
        self.session_tool_calls = session_tool_calls
        self.confirm = confirm
        self._confirmed: set[tuple[str, str]] = set()
        self.state = LoopState()
        self._seen: Counter[tuple[str, str]] = Counter()
        self._read_only_streak = 0

    def _retrying(self, exc: LLMTransientError, wait_s: float) -> None:
        self.state.retrying = True

    def _stop(self, limit: str) -> None:
        self.state.stop = limit
        self.metrics.limits_hit.labels(limit).inc()
        log.info("agent_limit_hit", limit=limit, iterations=self.state.iterations)

    async def run(self, system: str, messages: list[Message]) -> LoopState:
        on_text: OnText | None = None
        if self.stream:
            async def on_text(delta: str) -> None:
                await self.emit("text_delta", {"text": delta})
        model = self.caller.provider.model_for(self.limits.tier)
        specs = [t.spec() for t in self.tools]
        while self.state.iterations < self.limits.max_iterations:
            self.state.iterations += 1
            response = await self.caller.call(
                LLMRequest(model=model, system=system, messages=messages, tools=specs,
                           max_tokens=self.limits.max_tokens), self.scope, on_text,
                on_retry=self._retrying)
            self.state.retrying = False
            if response.text.strip():
                self.state.best_text = response.text.strip()
            if not response.tool_calls:
                self.state.final = True
                return self.state
            messages.append(response.as_message())
            results = await self._run_tools(response.tool_calls)
            messages.append(Message(role="user", parts=list(results)))
            if self.state.stop or self.state.pending:
                break
        else:
            self._stop("max_iterations")
        await self._wrap_up(model, system, messages, specs, on_text)
        return self.state

    async def _wrap_up(self, model: str, system: str, messages: list[Message],
                       specs: list[ToolSpec], on_text: OnText | None) -> None:
        """After a limit, one last call without tool use turns the findings into an answer."""
        if self.state.stop not in WRAP_UP_AFTER:
            return
        messages[-1].parts.append(TextPart(text=WRAP_UP))
        response = await self.caller.call(
            LLMRequest(model=model, system=system, messages=messages, tools=specs,
                       tool_choice="none", max_tokens=self.limits.max_tokens),
            self.scope, on_text)
        if response.text.strip():
            self.state.best_text = response.text.strip()

    async def _run_tools(self, calls: list[ToolCall]) -> list[ToolResult]:
        """Run the approved calls: consecutive read-only ones together, side effects in order."""
        allowed = {t.name for t in self.tools}
        per_iteration = self.limits.max_tool_calls_per_iteration
        if len(calls) > per_iteration:
            self.metrics.limits_hit.labels("tool_calls_per_iteration").inc()
        results: dict[int, ToolResult] = {}
        approved: list[tuple[int, ToolCall]] = []
        for index, call in enumerate(calls):
            refusal = self._refusal(call, index, per_iteration, len(approved))
            if refusal is None and self._needs_confirmation(call):
                self.state.pending = self.state.pending or call
                refusal = "Not run yet: the person is being asked to confirm it first."
            if refusal is None:
                approved.append((index, call))
            else:
                results[index] = ToolResult(call_id=call.id, content=refusal, is_error=True)
        runs: list[ToolRun] = []
        for batch in self._batches(approved):
            done = await asyncio.gather(*(self._run_one(call, allowed) for _, call in batch))
            for (index, _), run in zip(batch, done, strict=True):
                results[index] = run.result
                runs.append(run)
        self._track_progress(runs)
        return [results[i] for i in range(len(calls))]

    def _batches(self, approved: list[tuple[int, ToolCall]]) -> list[list[tuple[int, ToolCall]]]:
        """Consecutive read-only calls form one batch; each side-effecting call its own."""
        batches: list[list[tuple[int, ToolCall]]] = []
        previous_read_only = False
        for item in approved:
            tool = next((t for t in self.tools if t.name == item[1].name), None)
            read_only = tool is None or not tool.side_effects
            if read_only and previous_read_only:
                batches[-1].append(item)
            else:
                batches.append([item])
            previous_read_only = read_only
        return batches

    def _needs_confirmation(self, call: ToolCall) -> bool:
        return (call.name in self.confirm
                and (call.name, canonical_arguments(call.arguments)) not in self._confirmed)

    async def run_confirmed(self, call: ToolCall) -> ToolResult:
        """Run a call the person has just confirmed (it is not asked about again)."""
        self._confirmed.add((call.name, canonical_arguments(call.arguments)))
        run = await self._run_one(call, {t.name for t in self.tools})
        return run.result

    def _refusal(self, call: ToolCall, index: int, per_iteration: int,
                 approved: int) -> str | None:
        if index >= per_iteration:
            return f"Not run: at most {per_iteration} tool calls per step."
        if self.state.stop:
            return "Not run: the step limit was reached."
        key = (call.name, canonical_arguments(call.arguments))
        self._seen[key] += 1
        if self._seen[key] > self.limits.repeat_call_limit:
            self._stop("repeated_call")
            return "Not run: this exact call was already made. Answer with what you have."
        if self.session_tool_calls + approved >= self.limits.session_tool_call_cap:
            self._stop("session_tool_cap")
            return "Not run: the tool-call limit of this conversation was reached."
        return None

    async def _run_one(self, call: ToolCall, allowed: set[str]) -> ToolRun:
        tool = next((t for t in self.tools if t.name == call.name), None)
        title = tool.title if tool else "information"
        await self.emit("tool_call_start", {"name": call.name, "title": title})
        async with self.tracer.child(call.name, run_type="tool",
                                     inputs={"arguments": call.arguments or {}}) as trace:
            run = await self.executor.run(call, self.ctx, allowed=allowed,
                                          timeout_s=self.limits.tool_timeout_s)
            trace.set_outputs({"status": run.status, "content": run.result.content})
        if run.status not in ("invalid",):
            self.session_tool_calls += 1
        await self.emit("tool_call_end", {"name": call.name, "title": title,
                                          "ok": not run.result.is_error})
        source = run.failed_source
        if source is not None and source not in self.state.failed_sources:
            self.state.failed_sources.append(source)
        if run.status == "ok" and run.tool is not None:
            self.state.recovered_sources.add(run.tool.title)
            if run.tool.name == ESCALATION_TOOL:
                self.state.escalation_reason = str(run.arguments.get("reason", ""))
        return run

    def _track_progress(self, runs: list[ToolRun]) -> None:
        acted = any(r.status == "ok" and r.tool is not None and r.tool.side_effects
                    for r in runs)
        self._read_only_streak = 0 if acted else self._read_only_streak + 1
        if not self.state.stop and self._read_only_streak >= self.limits.read_only_streak_limit:
            self._stop("no_progress")
