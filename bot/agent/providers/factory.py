"""The configured provider, or None when no LLM is configured."""

from __future__ import annotations

from bot.agent.providers.base import LLMProvider
from bot.settings.agent import AgentSettings


def build_provider(settings: AgentSettings) -> LLMProvider | None:
    """Anthropic, Bedrock or OpenAI-compatible per LLM_PROVIDER; SDKs imported only here."""
    choice = settings.active_llm_provider
    if choice == "anthropic":
        from bot.agent.providers.anthropic import AnthropicProvider, build_anthropic_client

        return AnthropicProvider(build_anthropic_client(settings), models={
            "fast": settings.anthropic_model_fast, "strong": settings.anthropic_model_strong})
    if choice == "bedrock":
        from bot.agent.providers.anthropic import AnthropicProvider, build_bedrock_client

        return AnthropicProvider(build_bedrock_client(settings), name="bedrock", models={
            "fast": settings.bedrock_model_fast, "strong": settings.bedrock_model_strong})
    if choice == "openai":
        from bot.agent.providers.openai import OpenAICompatibleProvider, build_openai_client

        return OpenAICompatibleProvider(build_openai_client(settings), models={
            "fast": settings.openai_model_fast, "strong": settings.openai_model_strong})
    return None
