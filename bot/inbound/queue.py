"""The job queue: procrastinate on the same PostgreSQL.

Each conversation has at most one waiting "drain" job (queueing lock) and never
two running at once (lock): the job reads the conversation's unanswered messages
in order from the messages table, so a message that arrives while a drain runs is
either picked up by it or by the next one. Jobs are tiny and idempotent, which is
what makes recovery simple: a job stuck in `doing` after its worker died is closed
as failed and a fresh drain is queued for the conversation. So is a job whose drain
ended here but whose end procrastinate could not record (the database went away at
that moment): its worker lives on and beats, so it never looks stalled, and its lock
would hold the conversation's next drain back for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, cast
from uuid import UUID

import procrastinate
import psycopg
import structlog
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Job, Status

from bot.db.contacts import purge_old_data
from bot.db.pool import Database
from bot.observability import Metrics
from bot.settings import Settings

log = structlog.get_logger(__name__)

DRAIN_TASK = "drain_conversation"
QUEUE = "conversations"


@dataclass(frozen=True)
class DrainOutcome:
    """How a drain ended: all done, or come back after `retry_in_s` seconds."""

    turns: int
    retry_in_s: float | None = None


class ConversationDrain(Protocol):
    """What a drain job runs: answer a conversation's unanswered messages in order."""

    async def drain(self, conversation_id: UUID, contact_id: UUID) -> DrainOutcome: ...


class DrainQueue(Protocol):
    """Queueing a conversation's drain, as the parts that add work for it see the queue."""

    async def defer_drain(self, conversation_id: UUID, contact_id: UUID,
                          delay_s: float | None = None) -> bool: ...


class JobQueue:
    """Deferring drain jobs, running workers, and recovering stalled work."""

    def __init__(self, settings: Settings, metrics: Metrics, db: Database) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self._app: procrastinate.App | None = None
        self._drains: ConversationDrain | None = None
        # jobs whose drain ended in this process: id -> when (time.monotonic())
        self.ended: dict[int, float] = {}

    @property
    def app(self) -> procrastinate.App:
        assert self._app is not None, "queue not opened"
        return self._app

    async def open(self, conninfo: str) -> None:
        s = self.settings
        max_size = max(4, s.worker_concurrency // 2)
        self._app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=conninfo, min_size=min(s.queue_pool_min_size, max_size),
                max_size=max_size,
                # The queue's tables are service_role's (migrations/repeatable/).
                kwargs={"options": "-c role=service_role",
                        **({} if s.db_prepared_statements else {"prepare_threshold": None})},
            ),
        )
        self._app.task(name=DRAIN_TASK, queue=QUEUE, pass_context=True)(_drain_task)
        await self._app.open_async()

    async def close(self) -> None:
        if self._app is not None:
            await self._app.close_async()

    def _drain(self, conversation_id: UUID, contact_id: UUID,
               delay_s: float | None = None) -> Job:
        """A drain job of the conversation, locked to it (one drain at a time) and queued
        at most once (its queueing lock)."""
        key = str(conversation_id)
        options: dict[str, Any] = {"lock": key, "queueing_lock": key}
        if delay_s:
            # A delayed retry must not block an immediate drain for a newer message.
            options["queueing_lock"] = f"{key}:retry"
            options["schedule_in"] = {"seconds": delay_s}
        return self.app.configure_task(DRAIN_TASK, **options).make_new_job(
            conversation_id=key, contact_id=str(contact_id))

    async def defer_drain(self, conversation_id: UUID, contact_id: UUID,
                          delay_s: float | None = None) -> bool:
        """Queue a drain of the conversation; False when one is already waiting."""
        try:
            await self.app.job_manager.defer_job_async(
                self._drain(conversation_id, contact_id, delay_s))
            return True
        except AlreadyEnqueued:
            return False

    async def retry_failed_drain(self, conversation_id: UUID, contact_id: UUID,
                                 error: psycopg.OperationalError) -> None:
        """Queue the conversation again QUEUE_DRAIN_ERROR_RETRY_S after the database failed
        its drain: the reads before a turn, a delivery's bookkeeping, or recording a failed
        turn (a turn's own failures are retried by the turn's rules). Otherwise its messages
        wait for the recovery pass, 40 s and more by default. If queueing fails too, the
        error is raised: the job fails and the recovery pass takes the conversation."""
        delay_s = self.settings.queue_drain_error_retry_s
        try:
            await self.defer_drain(conversation_id, contact_id, delay_s=delay_s)
        except Exception as exc:
            raise error from exc
        self.metrics.recovered.labels("drain_database_error").inc()
        log.warning("drain_failed_retrying", error=type(error).__name__,
                    conversation_id=str(conversation_id), in_s=delay_s)

    async def defer_drains(self, conversations: dict[UUID, UUID]) -> None:
        """Queue a drain of each conversation (id -> contact id) in one statement. If one
        is already waiting (queued by another process meanwhile), they are queued one by
        one, skipping it."""
        if len(conversations) == 1:
            ((conversation_id, contact_id),) = conversations.items()
            await self.defer_drain(conversation_id, contact_id)
            return
        jobs = [self._drain(c, contact) for c, contact in conversations.items()]
        try:
            await self.app.job_manager.batch_defer_jobs_async(jobs)
        except AlreadyEnqueued:
            for conversation_id, contact_id in conversations.items():
                await self.defer_drain(conversation_id, contact_id)

    async def run_worker(self, drains: ConversationDrain, *,
                         install_signal_handlers: bool) -> None:
        """Run a worker until cancelled; recovery runs beside it.

        procrastinate's worker stops on a database error (PostgreSQL restarting, a
        failover): it is started again after QUEUE_WORKER_RESTART_S instead of leaving
        the process serving webhooks that nobody answers. Jobs the stopped worker held
        are recovered as stalled.
        """
        s = self.settings
        self._drains = drains
        recovery = asyncio.create_task(self.recover_forever(), name="queue-recovery")
        try:
            while True:
                try:
                    await self.app.run_worker_async(
                        queues=[QUEUE], concurrency=s.worker_concurrency, wait=True,
                        fetch_job_polling_interval=s.queue_poll_interval_s,
                        update_heartbeat_interval=s.queue_heartbeat_interval_s,
                        stalled_worker_timeout=s.queue_stalled_after_s,
                        additional_context={"queue": self}, delete_jobs="successful",
                        shutdown_graceful_timeout=s.worker_shutdown_grace_s,
                        install_signal_handlers=install_signal_handlers,
                    )
                    return
                except (ConnectorException, psycopg.OperationalError) as exc:
                    self.metrics.recovered.labels("worker_restart").inc()
                    log.warning("queue_worker_restarting", error=type(exc).__name__,
                                in_s=s.queue_worker_restart_s)
                    await asyncio.sleep(s.queue_worker_restart_s)
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery

    async def recover_forever(self) -> None:
        # Messages are only re-queued once they have waited well past a normal turn,
        # so conversations being worked on are left alone. Expired remembered facts are
        # deleted here too, every PURGE_EXPIRED_INTERVAL_S: procrastinate's periodic tasks
        # were tried, but their deferrer stops the whole worker when the database goes
        # away (a side task's failure stops it as a requested stop would).
        grace = timedelta(seconds=2 * self.settings.queue_stalled_after_s)
        purge_due = time.monotonic()
        while True:
            await asyncio.sleep(self.settings.queue_recovery_interval_s)
            try:
                await self.recover_stalled()
                await self.recover_unrecorded_ends()
                await self.requeue_pending(grace)
                if time.monotonic() >= purge_due:
                    if purged := await purge_old_data(self.db, self.settings.retention_days):
                        log.info("old_messages_purged", count=purged)
                    purge_due = time.monotonic() + self.settings.purge_expired_interval_s
            except Exception as exc:
                log.warning("queue_recovery_failed", error=type(exc).__name__)

    async def recover_stalled(self) -> int:
        """Close jobs whose worker stopped beating and queue their conversations again."""
        manager = self.app.job_manager
        stalled = list(await manager.get_stalled_jobs(
            task_name=DRAIN_TASK, seconds_since_heartbeat=self.settings.queue_stalled_after_s))
        for job in stalled:
            assert job.id is not None
            await manager.finish_job_by_id_async(job.id, Status.FAILED, delete_job=False)
            args = job.task_kwargs
            await self.defer_drain(UUID(str(args["conversation_id"])),
                                   UUID(str(args["contact_id"])))
            self.metrics.recovered.labels("stalled_job").inc()
            log.warning("stalled_job_recovered", job_id=job.id)
        with contextlib.suppress(Exception):
            await manager.prune_stalled_workers(self.settings.queue_stalled_after_s)
        return len(stalled)

    async def recover_unrecorded_ends(self) -> int:
        """Close jobs still `doing` well after their drain ended here, and queue their
        conversations again."""
        cutoff = time.monotonic() - self.settings.queue_stalled_after_s
        due = [job_id for job_id, at in self.ended.items() if at < cutoff]
        if not due:
            return 0
        rows = await self.app.connector.execute_query_all_async(
            "SELECT id, args FROM procrastinate_jobs WHERE id = ANY(%(ids)s)"
            " AND status = 'doing'", ids=due)
        manager = self.app.job_manager
        for row in rows:
            await manager.finish_job_by_id_async(row["id"], Status.FAILED, delete_job=False)
            await self.defer_drain(UUID(str(row["args"]["conversation_id"])),
                                   UUID(str(row["args"]["contact_id"])))
            self.metrics.recovered.labels("unrecorded_job_end").inc()
            log.warning("unrecorded_job_end_recovered", job_id=row["id"])
        for job_id in due:
            del self.ended[job_id]
        return len(rows)

    async def requeue_pending(self, older_than: timedelta) -> int:
        """Queue a drain for every conversation with unanswered or undelivered messages."""
        async with self.db.as_system() as conn:
            cur = await conn.execute("SELECT * FROM app.pending_conversations(%s)", (older_than,))
            rows = await cur.fetchall()
        count = 0
        for row in rows:
            if await self.defer_drain(row["conversation_id"], row["contact_id"]):
                count += 1
        if count:
            self.metrics.recovered.labels("pending_messages").inc(count)
        return count

    async def run_drain(self, job_id: int | None, conversation_id: UUID,
                        contact_id: UUID) -> None:
        """One drain job: the conversation answered, or queued again when it asks for it."""
        assert self._drains is not None, "drains run only in a worker"
        try:
            try:
                outcome = await self._drains.drain(conversation_id, contact_id)
            except psycopg.OperationalError as exc:
                await self.retry_failed_drain(conversation_id, contact_id, exc)
                return
            if outcome.retry_in_s is not None:
                await self.defer_drain(conversation_id, contact_id, delay_s=outcome.retry_in_s)
        finally:
            if job_id is not None:
                self.ended[job_id] = time.monotonic()

    async def stats(self) -> dict[str, float]:
        """Waiting jobs and the age of the oldest, for health and metrics."""
        rows = await self.app.connector.execute_query_all_async(
            "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(scheduled_at)), 0)"
            " AS age FROM procrastinate_jobs WHERE status = 'todo' AND queue_name = %(queue)s"
            " AND (scheduled_at IS NULL OR scheduled_at <= now())",
            queue=QUEUE,
        )
        n, age = float(rows[0]["n"]), float(rows[0]["age"] or 0)
        self.metrics.queue_depth.set(n)
        self.metrics.queue_oldest_age.set(age)
        return {"waiting": n, "oldest_age_s": age}


async def _drain_task(context: procrastinate.JobContext, conversation_id: str,
                      contact_id: str) -> None:
    queue = cast(JobQueue, context.additional_context["queue"])
    await queue.run_drain(context.job.id, UUID(conversation_id), UUID(contact_id))
