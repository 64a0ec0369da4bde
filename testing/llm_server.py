"""A fake LLM provider on loopback speaking the Anthropic Messages API and the OpenAI
chat.completions API (JSON and SSE streaming), playing scripted responses.

Tests queue what the "model" does next (`reply`, `tool_use`, `error`, `slow`) and
read back the request bodies it received. The real SDKs talk to it via base_url.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from testing.loopback import LoopbackServer


@dataclass
class Step:
    """One scripted response."""

    text: str = ""
    calls: list[tuple[str, Any]] = field(default_factory=list)  # (name, dict or raw JSON)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = "api_error"
    delay_s: float = 0.0
    input_tokens: int = 11
    output_tokens: int = 7
    fail_mid_stream: bool = False  # an SSE error event after the first text delta
    omit_usage: bool = False  # like some OpenAI-compatible servers


class FakeLLM:
    """The script and the record of one fake provider."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self.default = Step(text="(script exhausted)")
        #: fault scenarios: a share of calls answered 429 or 529 at random, or all 503
        self.error_rate = 0.0
        self.down = False
        self.random = random.Random(5)

    def reset(self) -> None:
        self.steps.clear()
        self.requests.clear()

    def reply(self, text: str, **kw: Any) -> FakeLLM:
        self.steps.append(Step(text=text, **kw))
        return self

    def tool_use(self, *calls: tuple[str, Any], text: str = "", **kw: Any) -> FakeLLM:
        self.steps.append(Step(text=text, calls=list(calls), **kw))
        return self

    def error(self, status: int, *, retry_after: str | None = None,
              error_type: str = "api_error") -> FakeLLM:
        headers = {"retry-after": retry_after} if retry_after else {}
        self.steps.append(Step(status=status, headers=headers, error_type=error_type))
        return self

    def overloaded_mid_stream(self, text: str = "Partial answer") -> FakeLLM:
        self.steps.append(Step(text=text, fail_mid_stream=True))
        return self

    def slow(self, delay_s: float, text: str = "late") -> FakeLLM:
        self.steps.append(Step(text=text, delay_s=delay_s))
        return self

    def next_step(self) -> Step:
        if self.down:
            return Step(status=503, error_type="api_error")
        if self.error_rate and self.random.random() < self.error_rate:
            status = self.random.choice([429, 529])
            return Step(status=status, error_type="rate_limit_error" if status == 429
                        else "overloaded_error", headers={"retry-after": "0"})
        return self.steps.pop(0) if self.steps else self.default

    @staticmethod
    def _allowed(step: Step, tool_choice: object) -> Step:
        """Like a real model: with tool_choice "none" it cannot call tools."""
        if tool_choice == "none" and step.calls:
            return Step(text=step.text or "(answer without tools)",
                        input_tokens=step.input_tokens, output_tokens=step.output_tokens)
        return step

    # --- Anthropic Messages API
    async def anthropic(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"api": "anthropic", **body})
        step = self._allowed(self.next_step(), (body.get("tool_choice") or {}).get("type"))
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        if step.status != 200:
            return JSONResponse({"type": "error", "error": {"type": step.error_type,
                                                            "message": "scripted"}},
                                status_code=step.status, headers=step.headers)
        content: list[dict[str, Any]] = []
        if step.text:
            content.append({"type": "text", "text": step.text})
        for i, (name, args) in enumerate(step.calls):
            content.append({"type": "tool_use", "id": f"toolu_{len(self.requests)}_{i}",
                            "name": name, "input": args})
        message = {"id": f"msg_{len(self.requests)}", "type": "message", "role": "assistant",
                   "model": body["model"], "content": content,
                   "stop_reason": "tool_use" if step.calls else "end_turn",
                   "stop_sequence": None,
                   "usage": {"input_tokens": step.input_tokens,
                             "output_tokens": step.output_tokens}}
        if not body.get("stream"):
            return JSONResponse(message)
        return StreamingResponse(self._anthropic_sse(message, step.fail_mid_stream),
                                 media_type="text/event-stream")

    async def _anthropic_sse(self, message: dict[str, Any],
                             fail_mid_stream: bool = False) -> AsyncIterator[str]:
        def sse(event: str, data: dict[str, Any]) -> str:
            return f"event: {event}\ndata: {json.dumps(data)}\n\n"
        start = {**message, "content": [], "stop_reason": None,
                 "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1}}
        yield sse("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                yield sse("content_block_start", {"type": "content_block_start", "index": index,
                                                  "content_block": {"type": "text", "text": ""}})
                words = block["text"].split(" ")
                for n, word in enumerate(words):
                    piece = word if n == 0 else " " + word
                    yield sse("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": piece}})
                    if fail_mid_stream:
                        yield sse("error", {"type": "error", "error": {
                            "type": "overloaded_error", "message": "Overloaded"}})
                        return
            else:
                yield sse("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"],
                                      "name": block["name"], "input": {}}})
                raw = block["input"] if isinstance(block["input"], str) else json.dumps(
                    block["input"])
                yield sse("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": raw}})
            yield sse("content_block_stop", {"type": "content_block_stop", "index": index})
        yield sse("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]}})
        yield sse("message_stop", {"type": "message_stop"})

    # --- OpenAI chat.completions
    async def openai(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"api": "openai", **body})
        step = self._allowed(self.next_step(), body.get("tool_choice"))
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        if step.status != 200:
            return JSONResponse({"error": {"message": "scripted", "type": step.error_type,
                                           "code": None}},
                                status_code=step.status, headers=step.headers)
        calls = [{"id": f"call_{len(self.requests)}_{i}", "type": "function",
                  "function": {"name": name,
                               "arguments": args if isinstance(args, str) else json.dumps(args)}}
                 for i, (name, args) in enumerate(step.calls)]
        usage = {"prompt_tokens": step.input_tokens, "completion_tokens": step.output_tokens,
                 "total_tokens": step.input_tokens + step.output_tokens}
        finish = "tool_calls" if calls else "stop"
        base = {"id": f"chatcmpl-{len(self.requests)}", "created": 1, "model": body["model"]}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
            if calls:
                message["tool_calls"] = calls
            return JSONResponse({**base, "object": "chat.completion", "usage": usage,
                                 "choices": [{"index": 0, "message": message,
                                              "finish_reason": finish}]})
        return StreamingResponse(
            self._openai_sse(base, step.text, calls, finish, None if step.omit_usage else usage),
            media_type="text/event-stream")

    async def _openai_sse(self, base: dict[str, Any], text: str, calls: list[dict[str, Any]],
                          finish: str, usage: dict[str, int] | None) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            data = {**base, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            return f"data: {json.dumps(data)}\n\n"
        yield chunk({"role": "assistant", "content": ""})
        for n, word in enumerate(text.split(" ") if text else []):
            yield chunk({"content": word if n == 0 else " " + word})
        for i, call in enumerate(calls):
            yield chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                         "function": {"name": call["function"]["name"],
                                                      "arguments": ""}}]})
            yield chunk({"tool_calls": [{"index": i, "function": {
                "arguments": call["function"]["arguments"]}}]})
        yield chunk({}, finish)
        if usage is not None:
            last = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            yield f"data: {json.dumps(last)}\n\n"
        yield "data: [DONE]\n\n"


class FakeLLMServer(LoopbackServer):
    """Serves a FakeLLM with uvicorn on 127.0.0.1 (a free port) in the current loop."""

    def __init__(self) -> None:
        self.llm = FakeLLM()
        app = Starlette(routes=[
            Route("/v1/messages", self.llm.anthropic, methods=["POST"]),
            Route("/v1/chat/completions", self.llm.openai, methods=["POST"]),
        ])
        super().__init__(app, timeout_graceful_shutdown=1)
