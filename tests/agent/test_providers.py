"""The real anthropic and openai SDKs against the fake provider: answers, tools, retries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.agent.errors import LLMPermanentError, LLMTransientError
from bot.agent.messages import LLMRequest, Message, ToolSpec
from testing.llm_server import FakeLLM
from tests.agent.conftest import Agent

PROVIDERS = ["anthropic", "openai"]
WEATHER = ToolSpec(name="weather", description="Weather in a city",
                   input_schema={"type": "object", "properties": {"city": {"type": "string"}}})


def request(**kw: object) -> LLMRequest:
    values: dict[str, object] = {"model": "claude-haiku-4-5", "system": "Be brief.",
                                 "messages": [Message.user("hi")]}
    values.update(kw)
    return LLMRequest.model_validate(values)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_plain_answer_with_usage_from_the_response(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, provider: str, stream: bool,
) -> None:
    agent = make_agent(provider)
    fake_llm.reply("Hello there friend", input_tokens=123, output_tokens=45)
    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)
    response = await agent.services.provider.complete(request(), on_text if stream else None)
    assert response.text == "Hello there friend"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (123, 45)
    assert ("".join(deltas) == "Hello there friend") if stream else deltas == []
    assert fake_llm.requests[0]["api"] == provider


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_are_parsed(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, provider: str, stream: bool,
) -> None:
    agent = make_agent(provider)
    fake_llm.tool_use(("weather", {"city": "Oslo"}), ("weather", {"city": "Rome"}))

    async def ignore(delta: str) -> None:
        return None
    response = await agent.services.provider.complete(request(tools=[WEATHER]),
                                                      ignore if stream else None)
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("weather", {"city": "Oslo"}), ("weather", {"city": "Rome"})]
    sent = fake_llm.requests[0]
    assert "weather" in str(sent["tools"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_waits_as_long_as_retry_after_says(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, provider: str,
) -> None:
    agent = make_agent(provider)
    fake_llm.error(429, retry_after="3").reply("finally")
    response = await agent.services.caller.call(request(), _scope(agent))
    assert response.text == "finally"
    assert agent.sleep.waits == [3.0]
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_529_and_500_back_off_exponentially_then_succeed(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, provider: str,
) -> None:
    agent = make_agent(provider)
    fake_llm.error(529, error_type="overloaded_error").error(500).reply("ok")
    response = await agent.services.caller.call(request(), _scope(agent))
    assert response.text == "ok"
    assert agent.sleep.waits == [1.0, 2.0]
    assert len(fake_llm.requests) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_three_failures_give_up_with_a_transient_error(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, provider: str,
) -> None:
    agent = make_agent(provider)
    fake_llm.error(503).error(503).error(503).reply("never reached")
    with pytest.raises(LLMTransientError):
        await agent.services.caller.call(request(), _scope(agent))
    assert len(fake_llm.requests) == 3
    assert agent.sleep.waits == [1.0, 2.0]


async def test_retry_after_longer_than_the_longest_wait_is_left_to_the_queue(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM,
) -> None:
    agent = make_agent(llm_retry_max_wait_s=30)
    fake_llm.error(429, retry_after="120").reply("never reached")
    with pytest.raises(LLMTransientError) as raised:
        await agent.services.caller.call(request(), _scope(agent))
    assert raised.value.retry_after_s == 120 and agent.sleep.waits == []


async def test_jitter_adds_at_most_the_configured_extra(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM,
) -> None:
    agent = make_agent(llm_retry_jitter_s=0.5)
    fake_llm.error(500).error(500).reply("ok")
    await agent.services.caller.call(request(), _scope(agent))
    first, second = agent.sleep.waits
    assert 1.0 <= first <= 1.5 and 2.0 <= second <= 2.5


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [400, 401, 403])
async def test_client_errors_are_not_retried_and_reach_operators(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM, provider: str, status: int,
) -> None:
    agent = make_agent(provider)
    fake_llm.error(status).reply("never reached")
    with pytest.raises(LLMPermanentError):
        await agent.services.caller.call(request(), _scope(agent))
    assert len(fake_llm.requests) == 1 and agent.sleep.waits == []
    assert agent.metric("bot_llm_operator_errors_total", provider=provider,
                        status=str(status)) == 1


def _scope(agent: Agent) -> object:
    from uuid import uuid4

    from bot.agent.llm import CallScope
    return CallScope(uuid4(), None, None, None)


async def test_overloaded_error_inside_a_stream_is_retried(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM,
) -> None:
    agent = make_agent("anthropic")
    fake_llm.overloaded_mid_stream().reply("Whole answer")
    deltas: list[str] = []

    async def on_text(delta: str) -> None:
        deltas.append(delta)
    response = await agent.services.caller.call(request(), _scope(agent), on_text)
    assert response.text == "Whole answer" and agent.sleep.waits == [1.0]
    assert "".join(deltas) == "PartialWhole answer"  # the retry streams from the start


async def test_missing_usage_is_recorded_as_unreported_not_estimated(
    make_agent: Callable[..., Agent], fake_llm: FakeLLM,
) -> None:
    agent = make_agent("openai")
    fake_llm.reply("hi", omit_usage=True)

    async def ignore(delta: str) -> None:
        return None
    response = await agent.services.caller.call(request(model="gpt-4o-mini"), _scope(agent),
                                                ignore)
    assert response.usage.reported is False and response.usage.input_tokens == 0
    assert agent.metric("bot_llm_usage_unreported_total", model="gpt-4o-mini") == 1


def test_bedrock_client_is_built_from_settings(make_settings: Callable[..., object]) -> None:
    import anthropic

    from bot.agent.providers.anthropic import AnthropicProvider
    from bot.agent.providers.factory import build_provider

    provider = build_provider(make_settings(llm_provider="bedrock", aws_region="eu-west-1",
                                            bedrock_base_url="http://127.0.0.1:9"))
    assert isinstance(provider, AnthropicProvider) and provider.name == "bedrock"
    assert isinstance(provider.client, anthropic.AsyncAnthropicBedrock)
    assert provider.client.max_retries == 0 and provider.client.aws_region == "eu-west-1"
    assert provider.model_for("strong").startswith("anthropic.claude-sonnet")


def test_provider_switched_on_without_its_secret_names_the_variable(
    make_settings: Callable[..., object],
) -> None:
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        make_settings(llm_provider="anthropic")
    with pytest.raises(ValueError, match="AWS_REGION"):
        make_settings(llm_provider="bedrock")
