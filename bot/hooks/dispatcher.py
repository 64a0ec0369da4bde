"""EventHooks: fire-and-forget delivery of events, so a receiver never slows a turn.

Why an in-process bounded queue and not a procrastinate job: events are emitted
from inside turn and handoff transactions (a security event is recorded in the
turn's unit of work); deferring a job there takes a second pooled connection while
the first is held, and a slow or exhausted pool would then stall the conversation.
`emit` only does `put_nowait` on a bounded `asyncio.Queue` (dropping and counting
when full), and a few background tasks deliver with tenacity's exponential
backoff, recording each outcome in `app.hook_deliveries`. The price: events still
queued when a process dies are lost; they are alerts, and the data they point at
is in the database, so that is the right trade.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from bot.db.pool import Database
from bot.hooks.events import EventType, HookEvent
from bot.hooks.sinks import HookError, RetryableHookError, Sink
from bot.observability import Metrics
from bot.settings import Settings

log = structlog.get_logger(__name__)


class EventHooks:
    """Emits events to every configured sink; does nothing when none is configured."""

    def __init__(self, settings: Settings, metrics: Metrics, sinks: list[Sink],
                 db: Database | None = None,
                 closers: list[Callable[[], Awaitable[Any]]] | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.sinks = sinks
        self.db = db
        self._queue: asyncio.Queue[tuple[HookEvent, Sink]] = asyncio.Queue(
            maxsize=max(1, settings.hook_queue_size))
        self._workers: list[asyncio.Task[None]] = []
        self.closers = closers or []

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)

    def emit(self, event: EventType, **data: Any) -> HookEvent | None:
        """Queue an event for every sink; never waits and never raises."""
        if not self.sinks:
            return None
        hook_event = HookEvent(type=event, data=data)
        for sink in self.sinks:
            try:
                self._queue.put_nowait((hook_event, sink))
            except asyncio.QueueFull:
                self.metrics.hook_dropped.labels(event).inc()
                log.warning("hook_dropped", hook_event=event, target=sink.target)
        return hook_event

    async def start(self) -> None:
        if not self.sinks or self._workers:
            return
        self._workers = [asyncio.create_task(self._work(), name=f"hooks-{n}")
                         for n in range(max(1, self.settings.hook_concurrency))]

    async def stop(self, drain_s: float | None = None) -> None:
        """Give queued deliveries a short while to finish, then stop."""
        if self._workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(),
                                       self.settings.hook_timeout_s if drain_s is None else drain_s)
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()

    async def _work(self) -> None:
        while True:
            event, sink = await self._queue.get()
            try:
                await self.deliver(event, sink)
            except Exception as exc:  # a bug here must not end the worker
                log.warning("hook_worker_error", error=type(exc).__name__)
            finally:
                self._queue.task_done()

    async def deliver(self, event: HookEvent, sink: Sink) -> bool:
        """Send with retries and record the outcome; True when delivered."""
        s = self.settings
        attempts = 0
        code: int | None = None
        error: str | None = None
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, s.hook_max_attempts)),
            wait=wait_exponential(multiplier=s.hook_retry_initial_s, max=s.hook_retry_max_s),
            retry=retry_if_exception_type(RetryableHookError), reraise=False)
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    code = await sink.send(event)
            ok = True
        except RetryError as exc:
            last = exc.last_attempt.exception()
            ok, error = False, str(last)
            code = last.status_code if isinstance(last, HookError) else None
        except HookError as exc:
            ok, error, code = False, str(exc), exc.status_code
        outcome = "delivered" if ok else "failed"
        self.metrics.hook_deliveries.labels(event.type, outcome).inc()
        log.info("hook_delivery", hook_event=event.type, target=sink.target, outcome=outcome,
                 attempts=attempts, status_code=code)
        await self._record(event, sink, outcome, attempts, code, error)
        return ok

    async def _record(self, event: HookEvent, sink: Sink, outcome: str, attempts: int,
                      code: int | None, error: str | None) -> None:
        if self.db is None:
            return
        try:
            async with self.db.as_system() as conn:
                await conn.execute(
                    "INSERT INTO app.hook_deliveries (event_id, event, target, status, attempts,"
                    " status_code, error, payload, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
                    (event.id, event.type, sink.target, outcome, attempts, code, error,
                     json.dumps(event.model_dump(mode="json")), event.created_at))
        except Exception as exc:
            log.warning("hook_record_failed", error=type(exc).__name__)
