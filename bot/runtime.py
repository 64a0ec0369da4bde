"""Everything one process needs, built from `Settings` and started in one place.

The FastAPI app, `bot worker` and `bot chat` all build a `Runtime`; tests build
their own with their own settings. Nothing here is a module global.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from datetime import timedelta

import structlog

from adapters.base import ChannelAdapter
from bot.agent.budget import AgentBudget
from bot.agent.builtin_tools import register_escalation_tool, register_memory_tools
from bot.agent.intent import AgentIntentLLM
from bot.agent.service import AgentServices, build_agent_services
from bot.agent.tools import ToolContext, ToolRegistry
from bot.agent.turn_reads import AgentTurnPrefetch
from bot.classify import Classifier, previous_intent
from bot.db.embedded import resolve_database_url
from bot.db.messages import PendingDelivery
from bot.db.migrate import apply_migrations
from bot.db.pool import Database
from bot.definition import AgentRoute, IntentSpec, load_definition
from bot.delivery import Deliverer
from bot.events import EventHub
from bot.handlers import builtin_handlers
from bot.handoff.console import HandoffConsole, LogConsole
from bot.handoff.service import HandoffService
from bot.hooks import EventHooks
from bot.hooks.build import build_hooks
from bot.hooks.cost import check_daily_cost
from bot.ingest import Ingestor
from bot.intents.classifier import IntentClassifier
from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.hybrid import HybridClassifier
from bot.knowledge.tool import register_knowledge_tool
from bot.observability import Metrics
from bot.pipeline import Pipeline
from bot.plugins import load_plugin, plugin_handlers, plugin_tools, prepare_plugin
from bot.queue import JobQueue
from bot.responders import Responder, TurnContext
from bot.routes import Router, build_router
from bot.safety.injection import InjectionDetector
from bot.safety.output import OutputFilter
from bot.safety.ratelimit import RateLimits
from bot.settings import Settings

log = structlog.get_logger(__name__)


class Runtime:
    """Database, queue, events, adapters and pipeline of one process."""

    def __init__(
        self, settings: Settings, *, classifier: Classifier | None = None,
        router: Router | None = None,
    ) -> None:
        from adapters.registry import build_adapters

        self.settings = settings
        self._classifier = classifier
        self._router = router
        self.metrics = Metrics()
        self.rate_limits = RateLimits(settings)
        self.output_filter = OutputFilter()
        # The detector and the intent classifier embed the same message: one pass serves both.
        self.embedding_memo = EmbeddingMemo()
        self.injection = InjectionDetector(
            harden_threshold=settings.injection_harden_threshold,
            refuse_threshold=settings.injection_refuse_threshold,
            use_embedding=settings.injection_embedding, embedding_memo=self.embedding_memo)
        self.adapters: dict[str, ChannelAdapter] = build_adapters(self)
        self._db: Database | None = None
        self._queue: JobQueue | None = None
        self._events: EventHub | None = None
        self._pipeline: Pipeline | None = None
        self._ingest: Ingestor | None = None
        self._worker: asyncio.Task[None] | None = None
        self._handoffs: HandoffService | None = None
        self._hooks: EventHooks | None = None
        self._background: list[asyncio.Task[None]] = []
        self.definition = load_definition(settings.definition_path)
        self.plugin = load_plugin(self.definition)
        # The LLM agent, built in `start` when a provider is configured (routes use it).
        self.agent: AgentServices | None = None

    # Started parts; accessing them before `start` is a programming error.
    @property
    def db(self) -> Database:
        assert self._db is not None, "runtime not started"
        return self._db

    @property
    def queue(self) -> JobQueue:
        assert self._queue is not None, "runtime not started"
        return self._queue

    @property
    def events(self) -> EventHub:
        assert self._events is not None, "runtime not started"
        return self._events

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None, "runtime not started"
        return self._pipeline

    @property
    def hooks(self) -> EventHooks:
        assert self._hooks is not None, "runtime not started"
        return self._hooks

    async def _watch_cost_forever(self) -> None:
        while True:
            try:
                await check_daily_cost(self.db, self.settings, self.hooks, self.metrics)
            except Exception as exc:
                log.warning("cost_check_failed", error=type(exc).__name__)
            await asyncio.sleep(self.settings.hook_cost_check_interval_s)

    @property
    def handoffs(self) -> HandoffService:
        assert self._handoffs is not None, "runtime not started"
        return self._handoffs

    def build_console(self) -> HandoffConsole:
        # HANDOFF_SLACK_CHANNEL with Slack on: the Slack adapter built the support console.
        console: HandoffConsole | None = getattr(self.adapters.get("slack"), "console", None)
        return console or LogConsole()

    async def _report_failed_delivery(self, delivery: PendingDelivery, error: str) -> None:
        if delivery.author is None:
            return
        handoff = await self.handoffs.open_handoff(delivery.conversation_id)
        if handoff is not None:
            excerpt = " ".join(delivery.reply.text.split())
            excerpt = excerpt if len(excerpt) <= 80 else excerpt[:79] + "…"
            await self.handoffs.console.notice(
                handoff, f"Your reply \"{excerpt}\" could not be delivered to the customer: "
                         f"{error}")

    async def _sweep_handoffs_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.handoff_sweep_interval_s)
            try:
                await self.handoffs.sweep()
            except Exception as exc:
                log.warning("handoff_sweep_failed", error=type(exc).__name__)

    @property
    def ingest(self) -> Ingestor:
        assert self._ingest is not None, "runtime not started"
        return self._ingest

    async def build_classifier(self) -> Classifier:
        """The hybrid classifier over a local model trained on the definition's examples,
        with the agent's provider as its LLM fallback when there is an agent."""
        if self._classifier is not None:
            return self._classifier
        texts, labels = self.definition.training_data()
        cache = self.settings.model_cache_dir or self.settings.data_dir / "models"
        local = await asyncio.to_thread(IntentClassifier.train, texts, labels, cache_dir=cache,
                                        memo=self.embedding_memo)
        # With an LLM configured, unsure messages go to it (built in `start` before this).
        llm = (AgentIntentLLM(self.agent, bot_name=self.definition.name)
               if self.agent is not None else None)
        return HybridClassifier(self.definition, local, llm=llm)

    def build_router(self) -> Router:
        if self._router is not None:
            return self._router
        handlers = {**builtin_handlers(self.definition, self.db, self.handoffs),
                    **plugin_handlers(self.plugin, self.db, self.settings)}
        agent = self.agent
        if agent is None:
            return build_router(self.definition, handlers, agent=None)

        def agent_route(intent: IntentSpec, route: AgentRoute) -> Responder:
            return agent.responder(AgentBudget(
                tier=route.tier, tools=tuple(route.tools) or None,
                max_iterations=route.max_iterations, max_tokens=route.max_tokens,
                confirm=tuple(route.confirm)))

        db = self.db

        async def previous(turn: TurnContext, skip: frozenset[str]) -> str | None:
            async with db.as_user(turn.contact_id) as conn:
                return await previous_intent(conn, turn.session.id, skip=tuple(skip))
        return build_router(self.definition, handlers, agent=agent_route, previous=previous)

    def build_tools(self) -> ToolRegistry:
        """Built-in tools (memory, the handoff, knowledge) plus the bot plugin's tools."""
        registry = ToolRegistry()
        register_memory_tools(registry)
        handoffs = self.handoffs

        async def hand_over(ctx: ToolContext, reason: str) -> None:
            async with ctx.unit_of_work() as conn:
                await handoffs.start(conn, contact_id=ctx.contact_id,
                                     conversation_id=ctx.conversation_id,
                                     session_id=ctx.session_id, trigger="agent", reason=reason,
                                     intent=None, history=[])
        register_escalation_tool(registry, hook=hand_over)
        if self.definition.knowledge_dir:
            register_knowledge_tool(registry, results=self.settings.kb_search_results)
        plugin_tools(self.plugin, registry)
        return registry

    async def start(self, *, worker: bool, listen_events: bool = True) -> None:
        s = self.settings
        conninfo = await resolve_database_url(s.database_url, s.embedded_database_dir)
        if s.run_migrations_on_start:
            applied = await apply_migrations(conninfo, bot_migrations=self.definition.migrations)
            if applied:
                log.info("migrations_applied", names=applied)
        self._db = Database(conninfo, s, on_round_trip=self.metrics.db_round_trips.inc)
        await self._db.open()
        if s.prepare_bot_on_start:
            await prepare_plugin(self.plugin, self._db, self.definition, s)
        self._queue = JobQueue(conninfo, s, self.metrics)
        await self._queue.open()
        self._events = EventHub(self._db)
        if listen_events:
            await self._events.start()
        self._ingest = Ingestor(self._db, self._queue, self.metrics,
                                batch_max=s.ingest_batch_max,
                                max_in_flight=s.ingest_max_in_flight)
        self._hooks = build_hooks(s, self.metrics, self._db)
        await self._hooks.start()
        self._handoffs = HandoffService(db=self._db, settings=s, console=self.build_console(),
                                        metrics=self.metrics, enqueue=self._queue.defer_drain,
                                        hooks=self._hooks)
        self.agent = build_agent_services(s, self._db, self.metrics.registry,
                                          tools=self.build_tools())
        if self.agent is not None:
            self.output_filter = OutputFilter(canaries=[self.agent.canary])
        await asyncio.to_thread(self.injection.warm_up)  # its model loads once, not mid-turn
        self._pipeline = Pipeline(
            settings=s, db=self._db, classifier=await self.build_classifier(),
            router=self.build_router(),
            deliverer=Deliverer(self._db, self.adapters, self.metrics,
                                on_failed=self._report_failed_delivery,
                                in_flight_s=s.queue_stalled_after_s),
            events=self._events, adapters=self.adapters, metrics=self.metrics,
            rate_limits=self.rate_limits, output_filter=self.output_filter,
            handoffs=self._handoffs, hooks=self._hooks, injection=self.injection,
            tracer=self.agent.tracer if self.agent is not None else None,
            prefetch=(AgentTurnPrefetch(self.agent.settings, self.agent.spend)
                      if self.agent is not None else None),
        )
        # What start-up built (models, vocabularies, the bot definition) lives as long as
        # the process: out of the collector's sight, a full collection no longer stops
        # every request for ~150 ms (measured with 178k objects tracked after start-up).
        if self.settings.gc_freeze_after_start:
            gc.collect()
            gc.freeze()
        if worker:
            await self.start_worker(install_signal_handlers=False)

    async def start_worker(self, *, install_signal_handlers: bool) -> None:
        # Work left by a previous process (persisted, never answered) is queued first.
        await self.queue.requeue_pending(self.db, timedelta(0))
        self._worker = asyncio.create_task(
            self.queue.run_worker(self, install_signal_handlers=install_signal_handlers),
            name="queue-worker",
        )
        self._background.append(asyncio.create_task(self._sweep_handoffs_forever(),
                                                    name="handoff-sweep"))
        self._background.append(asyncio.create_task(self._watch_cost_forever(),
                                                    name="cost-watch"))

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
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.aclose()
        if self._hooks is not None:
            await self._hooks.stop()
        if self._events is not None:
            await self._events.stop()
        if self.agent is not None:
            await self.agent.aclose()
        if self._queue is not None:
            await self._queue.close()
        if self._db is not None:
            await self._db.close()
        self.injection.close()  # frees the MiniLM session of the injection detector
        if self._pipeline is not None:
            close = getattr(self._pipeline.classifier, "close", None)
            if close is not None:
                close()  # the intent model's encoder
