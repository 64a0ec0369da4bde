"""Everything the agent shares across turns of one process, and the responders it makes.

Routing uses it like this:

    agent = runtime.agent                      # None when no LLM provider is configured
    responder = agent.responder(AgentBudget(tier="strong", tools=("remember",),
                                            max_iterations=4))
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from bot.agent.budget import AgentBudget
from bot.agent.builtin_tools import default_registry
from bot.agent.costs import DailySpend, PriceTable
from bot.agent.executor import Sleep, ToolExecutor
from bot.agent.llm import LLMCaller
from bot.agent.metrics import AgentMetrics
from bot.agent.prompt import new_canary
from bot.agent.providers.base import LLMProvider
from bot.agent.providers.factory import build_provider
from bot.agent.providers.retry import RetryPolicy
from bot.agent.responder import AgentResponder
from bot.agent.tools import ToolRegistry
from bot.agent.tracing import build_tracer
from bot.db.pool import Database
from bot.settings.agent import AgentSettings
from bot.tracing import NoTracer, Tracer


class AgentServices:
    """Provider, tools, breakers, metrics, tracer and canary of one process."""

    def __init__(self, settings: AgentSettings, db: Database, provider: LLMProvider, *,
                 registry: CollectorRegistry, tools: ToolRegistry | None = None,
                 tracer: Tracer | None = None, sleep: Sleep = asyncio.sleep,
                 clients: Mapping[str, Any] | None = None, persona: str | None = None) -> None:
        self.settings = settings
        #: how the system prompt opens: the bot definition's persona, or BOT_PERSONA
        self.persona = persona or settings.bot_persona
        self.db = db
        self.provider = provider
        self.registry = tools or default_registry()
        self.tracer = tracer or build_tracer(settings)
        self.metrics = AgentMetrics(registry)
        self.clients = dict(clients or {})
        self.canary = settings.prompt_canary or new_canary()
        #: this process's recent reading of today's spend (the daily cost cap)
        self.spend = DailySpend(settings.llm_daily_cost_refresh_s)
        self.caller = LLMCaller(
            provider, db, prices=PriceTable.from_json(settings.llm_prices), metrics=self.metrics,
            retry=RetryPolicy(attempts=settings.llm_retry_attempts,
                              initial_s=settings.llm_retry_initial_s,
                              jitter_s=settings.llm_retry_jitter_s,
                              max_wait_s=settings.llm_retry_max_wait_s, sleep=sleep))
        self.executor = ToolExecutor(
            self.registry, self.metrics, breaker_failures=settings.tool_breaker_failures,
            breaker_cooldown_s=settings.tool_breaker_cooldown_s,
            retry_attempts=settings.tool_retry_attempts, retry_wait_s=settings.tool_retry_wait_s,
            sleep=sleep)

    def responder(self, budget: AgentBudget | None = None) -> AgentResponder:
        """A responder for one route; responders share this process's breakers and clients.

        A budget naming a tool that is not registered is a configuration error.
        """
        budget = budget or AgentBudget()
        named = set(budget.tools or ()) | set(budget.confirm)
        unknown = sorted(named - set(self.registry.names()))
        if unknown:
            raise ValueError(f"unknown tools in agent budget: {', '.join(unknown)}")
        return AgentResponder(self, budget)

    async def aclose(self) -> None:
        await self.provider.aclose()
        await self.tracer.aclose()


def build_agent_services(settings: AgentSettings, db: Database, registry: CollectorRegistry,
                         tools: ToolRegistry | None = None,
                         provider: LLMProvider | None = None,
                         persona: str | None = None) -> AgentServices | None:
    """The agent for this process (on `provider`, else the configured one), or None when
    no LLM provider is configured."""
    provider = provider or build_provider(settings)
    if provider is None:
        return None
    tracer = build_tracer(settings)
    client = getattr(provider, "client", None)
    if client is not None:
        provider.client = tracer.wrap_client(client)  # type: ignore[attr-defined]
        # traces show the SDK's typed arguments as a chat, extra_body as plain JSON
        provider.typed_arguments = not isinstance(tracer, NoTracer)  # type: ignore[attr-defined]
    return AgentServices(settings, db, provider, registry=registry, tracer=tracer, tools=tools,
                         persona=persona)
