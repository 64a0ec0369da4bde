"""Everything one process needs, built from `Settings` and started in one place.

The FastAPI app, `bot worker` and `bot chat` all build a `Runtime`; tests build
their own with their own settings. Nothing here is a module global.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from adapters.base import ChannelAdapter
from bot.classify import Classifier, NoIntentsClassifier
from bot.db.embedded import resolve_database_url
from bot.db.messages import PendingDelivery
from bot.db.migrate import apply_migrations
from bot.db.pool import Database
from bot.definition import load_definition
from bot.delivery import Deliverer
from bot.events import EventHub
from bot.handlers import builtin_handlers
from bot.handoff.console import HandoffConsole, LogConsole
from bot.handoff.service import HandoffService
from bot.hooks import EventHooks
from bot.hooks.build import build_hooks
from bot.hooks.cost import check_daily_cost
from bot.ingest import Ingestor
from bot.observability import Metrics
from bot.pipeline import Pipeline
from bot.queue import JobQueue
from bot.responders import FixedHelpTextResponder
from bot.routes import Router, build_router
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
        return LogConsole()

    async def _report_failed_delivery(self, delivery: PendingDelivery, error: str) -> None:
        if delivery.author is None:
            return
        handoff = await self.handoffs.open_handoff(delivery.conversation_id)
        if handoff is not None:
            await self.handoffs.console.notice(
                handoff, f"Your reply could not be delivered to the customer: {error}")

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

    def build_classifier(self) -> Classifier:
        return self._classifier or NoIntentsClassifier()

    def build_router(self) -> Router:
        if self._router is not None:
            return self._router
        if self._classifier is None:
            # No intent classifier: nothing to route on, so say so plainly.
            return Router(default=FixedHelpTextResponder(self.settings.bot_name))
        handlers = builtin_handlers(self.definition, self.db, self.handoffs)
        return build_router(self.definition, handlers, agent=None)

    async def start(self, *, worker: bool, listen_events: bool = True) -> None:
        s = self.settings
        conninfo = await resolve_database_url(s.database_url, s.embedded_database_dir)
        if s.run_migrations_on_start:
            applied = await apply_migrations(conninfo)
            if applied:
                log.info("migrations_applied", names=applied)
        self._db = Database(conninfo, s)
        await self._db.open()
        self._queue = JobQueue(conninfo, s, self.metrics)
        await self._queue.open()
        self._events = EventHub(self._db)
        if listen_events:
            await self._events.start()
        self._ingest = Ingestor(self._db, self._queue, self.metrics)
        self._hooks = build_hooks(s, self.metrics, self._db)
        await self._hooks.start()
        self._handoffs = HandoffService(db=self._db, settings=s, console=self.build_console(),
                                        metrics=self.metrics, enqueue=self._queue.defer_drain,
                                        hooks=self._hooks)
        self._pipeline = Pipeline(
            settings=s, db=self._db, classifier=self.build_classifier(),
            router=self.build_router(),
            deliverer=Deliverer(self._db, self.adapters, self.metrics,
                                on_failed=self._report_failed_delivery),
            events=self._events, adapters=self.adapters, metrics=self.metrics,
            rate_limits=self.rate_limits, output_filter=self.output_filter,
            handoffs=self._handoffs, hooks=self._hooks,
        )
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

    async def stop(self) -> None:
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
        if self._queue is not None:
            await self._queue.close()
        if self._db is not None:
            await self._db.close()
