"""Calling the model: retries, latency, usage and cost recorded per attempt.

Each attempt's `app.llm_calls` row is written at once, or, when the call belongs to a
turn (`CallScope.rows`), handed to the turn to store in its final transaction: an
agent turn then spends no round trip on its own bookkeeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from uuid import UUID

import structlog

from bot.agent import store
from bot.agent.costs import PriceTable
from bot.agent.errors import LLMError, LLMPermanentError, LLMTransientError
from bot.agent.messages import LLMRequest, LLMResponse, OnText, Usage
from bot.agent.metrics import AgentMetrics
from bot.agent.providers.base import LLMProvider
from bot.agent.providers.retry import OnRetry, RetryPolicy
from bot.db.pool import Database
from bot.routing.responder import TurnRows

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CallScope:
    """Whom and which turn a model call is for (for llm_calls and the caps)."""

    contact_id: UUID
    conversation_id: UUID | None
    session_id: UUID | None
    message_id: int | None
    purpose: str = "answer"
    #: the turn's rows, stored with its reply; None: write each record at once
    rows: TurnRows | None = field(default=None, compare=False)


class LLMCaller:
    """A provider with our retry policy, metrics and the llm_calls record."""

    def __init__(self, provider: LLMProvider, db: Database, *, retry: RetryPolicy,
                 prices: PriceTable, metrics: AgentMetrics) -> None:
        self.provider = provider
        self.db = db
        self.retry = retry
        self.prices = prices
        self.metrics = metrics
        retry.on_retry = self._on_retry

    def _on_retry(self, exc: LLMTransientError, wait_s: float) -> None:
        self.metrics.llm_retries.labels(self.provider.name, str(exc.status or "connection")).inc()
        log.warning("llm_retry", provider=self.provider.name, status=exc.status,
                    wait_s=round(wait_s, 3))

    async def call(self, request: LLMRequest, scope: CallScope, on_text: OnText | None = None,
                   *, retry: bool = True, on_retry: OnRetry | None = None) -> LLMResponse:
        if not retry:
            return await self._attempt(request, scope, on_text)
        return await self.retry.call(lambda: self._attempt(request, scope, on_text), on_retry)

    async def _attempt(self, request: LLMRequest, scope: CallScope,
                       on_text: OnText | None) -> LLMResponse:
        started = time.perf_counter()
        try:
            response = await self.provider.complete(request, on_text)
        except LLMError as exc:
            latency = time.perf_counter() - started
            self.metrics.llm_calls.labels(self.provider.name, request.model, "error").inc()
            if isinstance(exc, LLMPermanentError):
                self.metrics.llm_operator_errors.labels(self.provider.name,
                                                        str(exc.status or "none")).inc()
                log.error("llm_call_rejected", provider=self.provider.name,
                          model=request.model, status=exc.status, error=str(exc))
            await self._record(scope, request.model, Usage(reported=False), latency, "error",
                               str(exc))
            raise
        latency = time.perf_counter() - started
        self.metrics.llm_calls.labels(self.provider.name, response.model, "ok").inc()
        self.metrics.llm_seconds.labels(self.provider.name).observe(latency)
        await self._record(scope, response.model, response.usage, latency, "ok", None)
        return response

    async def _record(self, scope: CallScope, model: str, usage: Usage, latency_s: float,
                      status: str, error: str | None) -> None:
        cost = self.prices.cost(model, usage)
        if status == "ok":
            if not usage.reported:
                self.metrics.llm_usage_unreported.labels(model).inc()
            if cost is None:
                self.metrics.llm_unpriced.labels(model).inc()
            self.metrics.llm_tokens.labels(model, "input").inc(usage.input_tokens)
            self.metrics.llm_tokens.labels(model, "output").inc(usage.output_tokens)
            self.metrics.llm_cost.labels(model).inc(float(cost or 0))
        record = store.LLMCallRecord(
            contact_id=scope.contact_id, conversation_id=scope.conversation_id,
            session_id=scope.session_id, message_id=scope.message_id, purpose=scope.purpose,
            provider=self.provider.name, model=model, input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, cached_input_tokens=usage.cached_input_tokens,
            usage_reported=usage.reported, cost_usd=cost or Decimal(0),
            latency_ms=latency_s * 1000, status=status, error=error)
        if scope.rows is not None:
            scope.rows.write(partial(store.record_llm_call, r=record))
            return
        try:
            async with self.db.as_user(scope.contact_id, pipeline=True) as conn:
                await store.record_llm_call(conn, record)
        except Exception as exc:  # the answer matters more than the cost row; metrics have it
            log.error("llm_call_record_failed", error=type(exc).__name__)
