"""Structured logs (structlog, JSON) and Prometheus metrics (one registry per app)."""

from __future__ import annotations

import logging
import sys
import time

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.pii import mask_log_event

_log = structlog.get_logger("bot.stages")


def configure_logging(level: str, as_json: bool) -> None:
    """JSON lines on stdout; `trace_id` and friends come from bound contextvars."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            mask_log_event,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )


class Metrics:
    """The bot's Prometheus metrics; labels never carry personal data."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.inbound = Counter("bot_inbound_messages_total", "Inbound messages accepted",
                               ["channel"], registry=r)
        self.duplicates = Counter("bot_inbound_duplicates_total",
                                  "Inbound messages dropped as platform retries", ["channel"],
                                  registry=r)
        self.turns = Counter("bot_turns_total", "Turns processed by outcome", ["outcome"],
                             registry=r)
        self.turn_seconds = Histogram(
            "bot_turn_seconds", "Time of one turn by stage", ["stage"], registry=r,
            # 5 ms steps up to 50 ms: a turn's own cost (no LLM) lives there, and quantiles
            # interpolated across a 25-50 ms bucket said little
            buckets=(0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.075,
                     0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.deliveries = Counter("bot_deliveries_total", "Replies handed to a platform",
                                  ["channel", "status"], registry=r)
        self.guard_rejections = Counter("bot_guard_rejections_total",
                                        "Messages rejected by the guard", ["reason"], registry=r)
        self.db_round_trips = Counter("bot_db_round_trips_total",
                                      "Statements sent to PostgreSQL by the app's pool",
                                      registry=r)
        self.queue_depth = Gauge("bot_queue_jobs", "Jobs waiting in the queue", registry=r)
        self.queue_oldest_age = Gauge("bot_queue_oldest_job_age_seconds",
                                      "Age of the oldest waiting job", registry=r)
        self.rate_limited = Counter("bot_rate_limited_total", "Messages over a rate limit",
                                    ["scope"], registry=r)
        self.security_events = Counter("bot_security_events_total", "Security events by kind",
                                       ["kind"], registry=r)
        self.handoffs = Counter("bot_handoffs_total", "Handoffs started",
                                ["trigger", "intent"], registry=r)
        self.handoff_claim_seconds = Histogram(
            "bot_handoff_claim_seconds", "Time from handoff to claim", registry=r,
            buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400))
        self.handoff_resolve_seconds = Histogram(
            "bot_handoff_resolve_seconds", "Time from handoff to resolution", registry=r,
            buckets=(60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400))
        self.handoffs_waiting = Gauge("bot_handoffs_waiting", "Handoffs nobody has claimed",
                                      registry=r)
        self.recovered = Counter("bot_recovered_jobs_total",
                                 "Conversations re-queued by recovery", ["reason"], registry=r)
        # --- operations (hooks, admin, retries, spend); LLM token/cost and tool-call
        # counters belong to the agent's metrics on this same registry.
        self.turn_retries = Counter("bot_turn_retries_total",
                                    "Failed turns queued again with backoff", registry=r)
        self.hook_deliveries = Counter("bot_hook_deliveries_total",
                                       "Event hook deliveries by event and outcome",
                                       ["event", "outcome"], registry=r)
        self.hook_dropped = Counter("bot_hook_dropped_total",
                                    "Events dropped because the hook queue was full", ["event"],
                                    registry=r)
        self.llm_cost_today = Gauge("bot_llm_cost_today_usd",
                                    "LLM spend since midnight UTC (from app.llm_calls)",
                                    registry=r)
        # Set by the tool circuit breakers (1 open, 0 closed); one series per tool name.
        self.tool_breaker_state = Gauge("bot_tool_breaker_state",
                                        "Tool circuit breaker: 1 open, 0 closed", ["tool"],
                                        registry=r)
        self.admin_actions = Counter("bot_admin_actions_total", "Dashboard actions by kind",
                                     ["action"], registry=r)

    def stage_done(self, stage: str, started: float, **fields: str) -> float:
        """Observe a pipeline stage's duration and log it (trace and conversation ids come
        from bound context, or `fields`); returns seconds."""
        seconds = time.perf_counter() - started
        self.stage_took(stage, seconds, **fields)
        return seconds

    def stage_took(self, stage: str, seconds: float, **fields: str) -> None:
        """Observe a stage's duration measured by the caller, and log it."""
        self.turn_seconds.labels(stage).observe(seconds)
        _log.info("stage_done", stage=stage, duration_ms=round(seconds * 1000, 2), **fields)
