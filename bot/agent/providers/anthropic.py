"""Claude through the official `anthropic` SDK: the Anthropic API or AWS Bedrock.

The async clients are built with max_retries=0 (our RetryPolicy retries) and a
settable base_url, which is also how tests point the real SDK at a local fake.
"""

from __future__ import annotations

from typing import Any

import anthropic

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
from bot.agent.providers.base import (
    RETRYABLE_STATUSES,
    TRANSIENT_ERROR_TYPES,
    retry_after_seconds,
)
from bot.settings.agent import AgentSettings

AnyAnthropicClient = anthropic.AsyncAnthropic | anthropic.AsyncAnthropicBedrock


def build_anthropic_client(settings: AgentSettings) -> anthropic.AsyncAnthropic:
    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
    return anthropic.AsyncAnthropic(api_key=key, base_url=settings.anthropic_base_url,
                                    timeout=settings.llm_timeout_s, max_retries=0)


def build_bedrock_client(settings: AgentSettings) -> anthropic.AsyncAnthropicBedrock:
    """Credentials come from the usual AWS chain (environment, profile, instance role)."""
    return anthropic.AsyncAnthropicBedrock(
        aws_region=settings.aws_region, aws_profile=settings.aws_profile,
        base_url=settings.bedrock_base_url, timeout=settings.llm_timeout_s, max_retries=0)


def to_wire(messages: list[Message]) -> list[dict[str, Any]]:
    """The agent's messages as Anthropic Messages API content blocks."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        blocks: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                if part.text:
                    blocks.append({"type": "text", "text": part.text})
            elif isinstance(part, ToolCall):
                blocks.append({"type": "tool_use", "id": part.id, "name": part.name,
                               "input": part.arguments or {}})
            elif isinstance(part, ToolResult):
                blocks.append({"type": "tool_result", "tool_use_id": part.call_id,
                               "content": part.content, "is_error": part.is_error})
        wire.append({"role": message.role, "content": blocks})
    return wire


def from_wire(message: Any) -> LLMResponse:
    """An SDK `Message` as the agent's response, usage taken from the response."""
    text: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            text.append(block.text)
        elif block.type == "tool_use":
            arguments = block.input if isinstance(block.input, dict) else None
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments,
                                  raw_arguments=repr(block.input)))
    usage = message.usage
    cached = (getattr(usage, "cache_read_input_tokens", None) or 0) + (
        getattr(usage, "cache_creation_input_tokens", None) or 0)
    return LLMResponse(
        model=message.model, text="".join(text), tool_calls=calls,
        stop_reason=message.stop_reason,
        usage=Usage(input_tokens=usage.input_tokens or 0, output_tokens=usage.output_tokens or 0,
                    cached_input_tokens=cached),
    )


def classify_error(exc: Exception) -> LLMError:
    """Transient (retry) or permanent (report), from the SDK's exception."""
    if isinstance(exc, anthropic.APIConnectionError):  # includes timeouts
        return LLMTransientError(f"connection: {type(exc).__name__}")
    if isinstance(exc, anthropic.APIStatusError):
        error_type = exc.type if isinstance(exc.type, str) else None
        retry_after = retry_after_seconds(exc.response.headers)
        # An error event inside a stream arrives on a 200 response: judge it by its type.
        mid_stream = exc.status_code < 400 and error_type in TRANSIENT_ERROR_TYPES
        if exc.status_code in RETRYABLE_STATUSES or mid_stream:
            return LLMTransientError(f"status {exc.status_code} {error_type or ''}".strip(),
                                     status=exc.status_code, retry_after_s=retry_after)
        return LLMPermanentError(f"status {exc.status_code} {error_type or ''}".strip(),
                                 status=exc.status_code)
    return LLMPermanentError(f"unexpected {type(exc).__name__}")


class AnthropicProvider:
    """Claude models; `name` is "anthropic" or "bedrock" depending on the client."""

    def __init__(self, client: AnyAnthropicClient, *, models: dict[ModelTier, str],
                 name: str = "anthropic") -> None:
        self.client = client
        self.models = models
        self.name = name
        #: send the conversation as the SDK's typed arguments (slower; a tracing wrapper
        #: of the client then shows it as a chat)
        self.typed_arguments = False

    def model_for(self, tier: ModelTier) -> str:
        return self.models[tier]

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        # The conversation and the tools go in `extra_body`, which the SDK sends as they
        # are: passed as typed arguments, the SDK walks them with runtime type
        # introspection on every call (no change to the JSON for the Messages API; in
        # `messages.stream` synchronously, on the event loop), which cost more than the
        # rest of a zero-latency turn (anthropic-sdk-python#1195).
        body: dict[str, Any] = {"system": request.system, "messages": to_wire(request.messages)}
        if request.tools:
            body["tools"] = [{"name": t.name, "description": t.description,
                              "input_schema": t.input_schema} for t in request.tools]
            if request.force_tool is not None:
                body["tool_choice"] = {"type": "tool", "name": request.force_tool}
            elif request.tool_choice == "none":  # "auto" is the default; not sent
                body["tool_choice"] = {"type": "none"}
        params: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens}
        if self.typed_arguments:
            return params | body
        return params | {"messages": [], "extra_body": body}

    async def complete(self, request: LLMRequest, on_text: OnText | None) -> LLMResponse:
        try:
            if on_text is None:
                message = await self.client.messages.create(**self._params(request))
                return from_wire(message)
            async with self.client.messages.stream(**self._params(request)) as stream:
                async for event in stream:
                    if event.type == "text" and event.text:
                        await on_text(event.text)
                return from_wire(await stream.get_final_message())
        except (anthropic.APIError, anthropic.APIConnectionError) as exc:
            raise classify_error(exc) from exc

    async def aclose(self) -> None:
        await self.client.close()
