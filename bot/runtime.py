"""Everything one process needs, built from `Settings` and started in one place.

The FastAPI app, `bot worker` and `bot chat` all build a `Runtime`; tests build their own
with their own settings. Nothing here is a module global. Parts are built in
`__init__` (adapters get theirs as `ChannelDeps`) and opened in `start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from adapters.registry import build_adapters
from bot.agent.providers.base import LLMProvider
from bot.agent.service import AgentServices, build_agent_services
from bot.agent.turn_reads import AgentOpeningReads
from bot.assembly import TurnParts, with_settings
from bot.channels import ChannelAdapter, ChannelDeps, Channels, ProvidesConsole
from bot.channels.deps import BotProfile
from bot.db.embedded import resolve_database_url
from bot.db.logins import app_conninfo, check_app_login
from bot.db.migrate import apply_migrations
from bot.db.pool import Database
from bot.definition import load_definition
from bot.handoff.console import HandoffConsole, LogConsole
from bot.handoff.service import HandoffService
from bot.hooks.build import build_hooks
from bot.hooks.cost import check_daily_cost
from bot.inbound.ingest import Ingestor
from bot.inbound.queue import JobQueue
from bot.intents.contract import Classifier
from bot.intents.embedding_memo import EmbeddingMemo
from bot.observability import Metrics
from bot.outbound.delivery import Deliverer, DeliveryLimits
from bot.outbound.events import EventHub
from bot.plugins import load_plugin, prepare_plugin
from bot.routing.router import Router
from bot.safety.injection import InjectionDetector
from bot.safety.output import OutputFilter
from bot.safety.ratelimit import RateLimits
from bot.settings import Settings
from bot.tracing import NoTracer
from bot.turn.failure import FailedTurns
from bot.turn.opening import TurnOpening
from bot.turn.outcome import Outcomes
from bot.turn.pipeline import Pipeline
from bot.turn.stages import StageParts, turn_stages

log = structlog.get_logger(__name__)


class Runtime:
    """Database, queue, events, adapters and the turn of one process."""

    def __init__(self, settings: Settings, *, classifier: Classifier | None = None,
                 router: Router | None = None, llm: LLMProvider | None = None) -> None:
        self.settings = s = settings
        self.llm = llm  # a model of the caller's (`bot test`'s script); else LLM_PROVIDER
        self.metrics = Metrics()
        self.rate_limits = RateLimits(s)
        self.output_filter = OutputFilter()
        # The detector and the intent classifier embed the same message: one pass serves both.
        self.embedding_memo = EmbeddingMemo()
        self.injection = InjectionDetector(
            harden_threshold=s.injection_harden_threshold,
            refuse_threshold=s.injection_refuse_threshold,
            use_embedding=s.injection_embedding, embedding_memo=self.embedding_memo,
            model_dir=s.models_dir)
        self.db = Database(None, s, on_round_trip=self.metrics.db_round_trips.inc)
        self.queue = JobQueue(s, self.metrics, self.db)
        self.events = EventHub(self.db)
        self.hooks = build_hooks(s, self.metrics, self.db)
        self.handoffs = HandoffService(db=self.db, settings=s, metrics=self.metrics,
                                       queue=self.queue, hooks=self.hooks)
        self.definition = with_settings(load_definition(s.definition_path), s)
        self.channel_deps = ChannelDeps(settings=s, db=self.db, metrics=self.metrics,
                                        turn_events=self.events, conversations=self.events,
                                        client_limits=self.rate_limits, staff=self.handoffs,
                                        profile=BotProfile(self.definition.name,
                                                           self.definition.welcome_text))
        self.adapters: dict[str, ChannelAdapter] = build_adapters(self.channel_deps)
        self.channels = Channels(self.adapters)
        self.handoffs.use_console(self.build_console())
        self.ingest = Ingestor(self.db, self.queue, self.metrics, batch_max=s.ingest_batch_max,
                               max_in_flight=s.ingest_max_in_flight)
        self.plugin = load_plugin(self.definition)
        self.parts = TurnParts(settings=s, definition=self.definition, plugin=self.plugin,
                               db=self.db, handoffs=self.handoffs, hooks=self.hooks,
                               memo=self.embedding_memo, classifier=classifier, router=router)
        # The LLM agent, built in `start` when a provider is configured (routes use it).
        self.agent: AgentServices | None = None
        self._pipeline: Pipeline | None = None
        self._worker: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None, "runtime not started"
        return self._pipeline

    def build_console(self) -> HandoffConsole:
        """Where staff work: the console a channel hosts (HANDOFF_SLACK_CHANNEL with Slack),
        or the log (staff then use `bot handoffs` and the dashboard)."""
        for adapter in self.channels:
            if isinstance(adapter, ProvidesConsole) and adapter.console is not None:
                return adapter.console
        return LogConsole()

    def build_router(self) -> Router:
        return self.parts.router(self.agent)

    async def start(self, *, worker: bool, listen_events: bool = True) -> None:
        s = self.settings
        owner = await resolve_database_url(s.database_url, s.embedded_database_dir)
        if s.run_migrations_on_start:
            applied = await apply_migrations(owner, bot_migrations=self.definition.migrations,
                                             app_login=s.database_app_url)
            if applied:
                log.info("migrations_applied", names=applied)
        conninfo = app_conninfo(owner, s.database_app_url)
        await check_app_login(conninfo, s.db_connect_timeout_s)
        await self.db.open(conninfo)
        if s.prepare_bot_on_start:
            await prepare_plugin(self.plugin, self.db, self.definition, s)
        await self.queue.open(conninfo)
        if listen_events:
            await self.events.start()
        await self.hooks.start()
        self.agent = build_agent_services(s, self.db, self.metrics.registry,
                                          tools=self.parts.tools(), provider=self.llm,
                                          persona=self.definition.agent_persona)
        if self.agent is not None:
            self.output_filter = OutputFilter(canaries=[self.agent.canary])
        await asyncio.to_thread(self.injection.warm_up)  # its model loads once, not mid-turn
        self._pipeline = await self._build_pipeline()
        # What start-up built (models, vocabularies, the bot definition) lives as long as
        # the process: out of the collector's sight, a full collection no longer stops
        # every request for ~150 ms (measured with 178k objects tracked after start-up).
        if s.gc_freeze_after_start:
            gc.collect()
            gc.freeze()
        if worker:
            await self.start_worker(install_signal_handlers=False)

    async def _build_pipeline(self) -> Pipeline:
        s, agent = self.settings, self.agent
        deliverer = Deliverer(self.db, self.channels, self.metrics, failures=self.handoffs,
                              in_flight_s=s.queue_stalled_after_s, limits=DeliveryLimits(
                                  s.sends_per_channel(s.worker_concurrency),
                                  s.delivery_busy_retry_s, s.delivery_retry_base_s,
                                  s.delivery_retry_max_wait_s, s.delivery_max_attempts))
        tracer = agent.tracer if agent is not None else NoTracer()
        stages = turn_stages(StageParts(
            settings=s, metrics=self.metrics, hooks=self.hooks, rate_limits=self.rate_limits,
            injection=self.injection, classifier=await self.parts.classifier(agent),
            tracer=tracer, router=self.build_router(), output_filter=self.output_filter,
            channels=self.channels))
        opening = TurnOpening(
            self.db, self.channels, self.events, history_max=s.history_max_messages,
            inactivity=timedelta(hours=s.session_inactivity_hours),
            reads=[AgentOpeningReads(agent.settings, agent.spend)] if agent is not None else [])
        return Pipeline(
            db=self.db, channels=self.channels, opening=opening, stages=stages,
            outcomes=Outcomes(settings=s, deliverer=deliverer, metrics=self.metrics,
                              handoffs=self.handoffs),
            failures=FailedTurns(self.db, s, self.metrics, self.hooks),
            deliverer=deliverer, metrics=self.metrics, tracer=tracer)

    async def start_worker(self, *, install_signal_handlers: bool) -> None:
        # Work left by a previous process (persisted, never answered) is queued first.
        await self.queue.requeue_pending(timedelta(0))
        self._worker = asyncio.create_task(
            self.queue.run_worker(self.pipeline, install_signal_handlers=install_signal_handlers),
            name="queue-worker",
        )
        self._background += [
            asyncio.create_task(self._every(self.settings.handoff_sweep_interval_s,
                                            self.handoffs.sweep, "handoff_sweep_failed",
                                            first_after=True), name="handoff-sweep"),
            asyncio.create_task(self._every(self.settings.hook_cost_check_interval_s,
                                            self._check_cost, "cost_check_failed"),
                                name="cost-watch")]

    async def _check_cost(self) -> None:
        await check_daily_cost(self.db, self.settings, self.hooks, self.metrics)

    @staticmethod
    async def _every(interval_s: float, job: Callable[[], Awaitable[object]], failed: str, *,
                     first_after: bool = False) -> None:
        if first_after:
            await asyncio.sleep(interval_s)
        while True:
            try:
                await job()
            except Exception as exc:
                log.warning(failed, error=type(exc).__name__)
            await asyncio.sleep(interval_s)

    async def wait_worker(self) -> None:
        if self._worker is not None:
            await self._worker

    def request_stop(self) -> None:
        """Stop taking work: drains end after their current turn (their conversations are
        queued again), and the worker waits WORKER_SHUTDOWN_GRACE_S for them."""
        if self._pipeline is not None:
            self._pipeline.stop_requested = True
        if self._worker is not None:
            self._worker.cancel()

    async def stop(self) -> None:
        self.request_stop()
        for task in [*self._background, *([self._worker] if self._worker else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for adapter in self.channels:
            with contextlib.suppress(Exception):
                await adapter.aclose()
        await self.hooks.stop()
        await self.events.stop()
        if self.agent is not None:
            await self.agent.aclose()
        await self.queue.close()
        await self.db.close()
        self.injection.close()  # frees the MiniLM session of the injection detector
        self.parts.close()  # the intent model's encoder
