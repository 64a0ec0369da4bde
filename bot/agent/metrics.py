"""The agent's Prometheus metrics, registered on the process registry; no personal data."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class AgentMetrics:
    """What operators watch: LLM calls, errors, tokens, cost, tools, limits, caps."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.llm_calls = Counter("bot_llm_calls_total", "LLM calls by outcome",
                                 ["provider", "model", "outcome"], registry=r)
        self.llm_retries = Counter("bot_llm_retries_total", "LLM call retries by status",
                                   ["provider", "status"], registry=r)
        self.llm_operator_errors = Counter(
            "bot_llm_operator_errors_total",
            "Non-retryable LLM errors (bad request, auth, permission): need an operator",
            ["provider", "status"], registry=r)
        self.llm_tokens = Counter("bot_llm_tokens_total", "Tokens reported by the provider",
                                  ["model", "direction"], registry=r)
        self.llm_usage_unreported = Counter(
            "bot_llm_usage_unreported_total", "Responses without token usage", ["model"],
            registry=r)
        self.llm_cost = Counter("bot_llm_cost_usd_total", "Cost of LLM calls in USD", ["model"],
                                registry=r)
        self.llm_unpriced = Counter("bot_llm_unpriced_calls_total",
                                    "Calls to a model missing from LLM_PRICES", ["model"],
                                    registry=r)
        self.llm_seconds = Histogram("bot_llm_call_seconds", "Latency of one LLM attempt",
                                     ["provider"], registry=r,
                                     buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))
        self.tool_calls = Counter("bot_tool_calls_total", "Tool calls by outcome",
                                  ["tool", "outcome"], registry=r)
        self.breaker_open = Counter("bot_tool_breaker_open_total",
                                    "Tool calls skipped because the tool's breaker is open",
                                    ["tool"], registry=r)
        self.limits_hit = Counter("bot_agent_limits_hit_total", "Agent loops ended by a limit",
                                  ["limit"], registry=r)
        self.budget_exhausted = Counter(
            "bot_agent_budget_exhausted_total",
            "Turns answered offline because a cost cap or token budget was reached",
            ["scope"], registry=r)
        self.busy = Counter("bot_agent_busy_total",
                            "Turns handed back to the queue after transient LLM failures",
                            registry=r)
