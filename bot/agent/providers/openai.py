"""Any OpenAI-compatible chat completions endpoint through the official `openai` SDK.

OpenAI itself, or Ollama / vLLM / LM Studio through OPENAI_BASE_URL. The client
is built with max_retries=0; our RetryPolicy retries.
"""

from __future__ import annotations

import json
from typing import Any

import openai

from bot.agent.budget import ModelTier
from bot.agent.errors import LLMError, LLMPermanentError, LLMTransientError
from bot.agent.messages import (
    LLMRequest,
    LLMResponse,
    Message,
    OnText,
    TextPart,
    ToolCall,
    ToolResult,
    Usage,
)
from bot.agent.providers.base import RETRYABLE_STATUSES, retry_after_seconds
from bot.settings.agent import AgentSettings


def build_openai_client(settings: AgentSettings) -> openai.AsyncOpenAI:
    # Local servers (Ollama, LM Studio) need no key, but the SDK insists on one.
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    return openai.AsyncOpenAI(api_key=key, base_url=settings.openai_base_url,
                              timeout=settings.llm_timeout_s, max_retries=0)


def to_wire(system: str, messages: list[Message]) -> list[dict[str, Any]]:
    """The agent's messages as chat.completions messages (tool results are own messages)."""
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for message in messages:
        text = "".join(p.text for p in message.parts if isinstance(p, TextPart))
        calls = [p for p in message.parts if isinstance(p, ToolCall)]
        results = [p for p in message.parts if isinstance(p, ToolResult)]
        for result in results:
            content = f"ERROR: {result.content}" if result.is_error else result.content
            wire.append({"role": "tool", "tool_call_id": result.call_id, "content": content})
        if message.role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                entry["tool_calls"] = [{
                    "id": c.id, "type": "function",
                    "function": {"name": c.name,
                                 "arguments": c.raw_arguments or json.dumps(c.arguments or {})},
                } for c in calls]
            wire.append(entry)
        elif text:
            wire.append({"role": "user", "content": text})
    return wire


def parse_arguments(raw: str) -> dict[str, Any] | None:
    """Tool arguments as an object, or None when the model sent something else."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def usage_of(usage: Any) -> Usage:
    if usage is None:  # some compatible servers omit it; counted as unreported
        return Usage(reported=False)
    details = getattr(usage, "prompt_tokens_details", None)
    return Usage(input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0,
                 cached_input_tokens=(getattr(details, "cached_tokens", None) or 0))


def classify_error(exc: Exception) -> LLMError:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return LLMTransientError(f"connection: {type(exc).__name__}")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in RETRYABLE_STATUSES:
            return LLMTransientError(f"status {exc.status_code}", status=exc.status_code,
                                     retry_after_s=retry_after_seconds(exc.response.headers))
        return LLMPermanentError(f"status {exc.status_code}", status=exc.status_code)
    return LLMPermanentError(f"unexpected {type(exc).__name__}")


class OpenAICompatibleProvider:
    """Chat completions with function tools."""

    name = "openai"

    def __init__(self, client: openai.AsyncOpenAI, *, models: dict[ModelTier, str]) -> None:
        self.client = client
        self.models = models
        #: send the conversation as the SDK's typed arguments (slower; a tracing wrapper
        #: of the client then shows it as a chat)
        self.typed_arguments = False

    def model_for(self, tier: ModelTier) -> str:
        return self.models[tier]

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        # The conversation and the tools go in `extra_body`, which the SDK sends as they
        # are: passed as typed arguments, the SDK walks them with runtime type
        # introspection on every call (no change to the JSON for chat completions), which
        # took half of a zero-latency agent turn in a profile (anthropic-sdk-python#1195
        # describes the same code in the Anthropic SDK).
        body: dict[str, Any] = {"messages": to_wire(request.system, request.messages)}
        if request.tools:
            body["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.input_schema,
            }} for t in request.tools]
            if request.force_tool is not None:
                body["tool_choice"] = {"type": "function",
                                       "function": {"name": request.force_tool}}
            elif request.tool_choice == "none":  # "auto" is the default (and not every
                body["tool_choice"] = "none"  # compatible server accepts it explicitly)
        params: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens}
        if self.typed_arguments:
            return params | body
        return params | {"messages": [], "extra_body": body}

    async def complete(self, request: LLMRequest, on_text: OnText | None) -> LLMResponse:
        try:
            if on_text is None:
                completion = await self.client.chat.completions.create(**self._params(request))
                return self._from_completion(completion)
            return await self._stream(request, on_text)
        except openai.APIError as exc:
            raise classify_error(exc) from exc

    def _from_completion(self, completion: Any) -> LLMResponse:
        choice = completion.choices[0]
        calls = [ToolCall(id=c.id, name=c.function.name, raw_arguments=c.function.arguments,
                          arguments=parse_arguments(c.function.arguments))
                 for c in (choice.message.tool_calls or []) if c.type == "function"]
        return LLMResponse(model=completion.model, text=choice.message.content or "",
                           tool_calls=calls, stop_reason=choice.finish_reason,
                           usage=usage_of(completion.usage))

    async def _stream(self, request: LLMRequest, on_text: OnText) -> LLMResponse:
        stream = await self.client.chat.completions.create(
            **self._params(request), stream=True, stream_options={"include_usage": True})
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        model, finish, usage = request.model, None, None
        async for chunk in stream:
            model = chunk.model or model
            usage = chunk.usage or usage
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                    await on_text(delta.content)
                for piece in delta.tool_calls or []:
                    call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] = piece.id or call["id"]
                    if piece.function is not None:
                        call["name"] += piece.function.name or ""
                        call["arguments"] += piece.function.arguments or ""
        tool_calls = [ToolCall(id=c["id"], name=c["name"], raw_arguments=c["arguments"],
                               arguments=parse_arguments(c["arguments"]))
                      for _, c in sorted(calls.items())]
        return LLMResponse(model=model, text="".join(text), tool_calls=tool_calls,
                           stop_reason=finish, usage=usage_of(usage))

    async def aclose(self) -> None:
        await self.client.close()
