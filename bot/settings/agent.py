"""Settings of the tool-calling agent, mixed into the one `bot.settings.Settings`.

The agent's parts take this narrower type; `Settings` inherits it, so there is still
exactly one settings object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

ProviderName = Literal["anthropic", "openai", "bedrock", "none"]


class AgentSettingsError(ValueError):
    """The configured LLM provider lacks one of its required variables."""


class AgentSettings(BaseSettings):
    """LLM providers, limits, retries, memory, cost caps and tracing of the agent."""

    # --- provider choice: unset means "first configured of anthropic, openai"
    llm_provider: ProviderName | None = None
    llm_timeout_s: float = 60.0
    llm_max_output_tokens: int = 1024
    llm_stream: bool = True
    # --- Anthropic
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    anthropic_model_fast: str = "claude-haiku-4-5"
    anthropic_model_strong: str = "claude-sonnet-4-5"
    # --- OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model_fast: str = "gpt-4o-mini"
    openai_model_strong: str = "gpt-4o"
    # --- Claude on AWS Bedrock (credentials from the usual AWS chain)
    aws_region: str | None = None
    aws_profile: str | None = None
    bedrock_base_url: str | None = None
    bedrock_model_fast: str = "anthropic.claude-haiku-4-5-20251001-v1:0"
    bedrock_model_strong: str = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    # --- retries of LLM calls (the SDKs' own retries are off)
    llm_retry_attempts: int = 3
    llm_retry_initial_s: float = 1.0
    llm_retry_jitter_s: float = 0.5
    llm_retry_max_wait_s: float = 30.0
    # --- loop limits (a route's AgentBudget may override the first five)
    agent_max_iterations: int = 6
    agent_max_tool_calls_per_iteration: int = 5
    agent_tool_timeout_s: float = 10.0
    agent_turn_deadline_s: float = 90.0
    agent_session_tool_call_cap: int = 500
    agent_repeat_call_limit: int = 2
    agent_read_only_streak_limit: int = 4
    # --- tools: circuit breaker and read-only retries
    tool_breaker_failures: int = 3
    tool_breaker_cooldown_s: float = 60.0
    tool_retry_attempts: int = 2
    tool_retry_wait_s: float = 0.5
    # --- the intent classifier's LLM fallback (a fast-tier call, when the local model is unsure)
    intent_llm_timeout_s: float = 8.0
    intent_llm_max_tokens: int = 64
    # --- memory and prompt
    bot_persona: str = "You are a friendly, concise assistant for our customers."
    prompt_canary: str | None = None
    agent_history_token_budget: int = 1500
    agent_history_keep_ratio: float = 0.5
    agent_history_max_messages: int = 200
    agent_summary_max_tokens: int = 400
    agent_user_context_max_items: int = 30
    # --- cost: USD per million tokens by model, and caps
    llm_prices: str = (
        '{"claude-haiku-4-5": {"input": 1.0, "output": 5.0},'
        ' "claude-sonnet-4-5": {"input": 3.0, "output": 15.0},'
        ' "gpt-4o-mini": {"input": 0.15, "output": 0.6},'
        ' "gpt-4o": {"input": 2.5, "output": 10.0}}'
    )
    llm_daily_cost_cap_usd: float = 50.0
    # how long a process reuses its reading of today's spend (the cap's sum grows with traffic)
    llm_daily_cost_refresh_s: float = Field(default=10.0, ge=0)
    llm_user_daily_token_budget: int = 200_000
    # --- LangSmith tracing (on when both are set)
    langsmith_api_key: SecretStr | None = None
    langsmith_tracing: bool = False
    langsmith_project: str = "messaging-bot"
    langsmith_endpoint: str | None = None

    @model_validator(mode="after")
    def _provider_has_its_secrets(self) -> AgentSettings:
        if self.llm_provider == "anthropic" and not self.anthropic_api_key:
            raise AgentSettingsError("ANTHROPIC_API_KEY must be set because LLM_PROVIDER=anthropic")
        if self.llm_provider == "bedrock" and not self.aws_region:
            raise AgentSettingsError("AWS_REGION must be set because LLM_PROVIDER=bedrock")
        if self.llm_provider == "openai" and not (self.openai_api_key or self.openai_base_url):
            raise AgentSettingsError(
                "OPENAI_API_KEY (or OPENAI_BASE_URL for a local server) must be set"
                " because LLM_PROVIDER=openai")
        return self

    @property
    def active_llm_provider(self) -> ProviderName:
        """The provider in use: the explicit choice, else the first one configured."""
        if self.llm_provider is not None:
            return self.llm_provider
        if self.anthropic_api_key:
            return "anthropic"
        if self.openai_api_key or self.openai_base_url:
            return "openai"
        return "none"

    @property
    def langsmith_enabled(self) -> bool:
        return bool(self.langsmith_api_key) and self.langsmith_tracing
