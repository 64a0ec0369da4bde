"""The job queue: its connections opened at start, so a burst is queued at once; drains
queued together; a drain the database failed queued again."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import psycopg

from bot.db.pool import Database
from bot.inbound.ingest import Ingestor
from bot.models import InboundMessage
from bot.settings import Settings
from tests.conftest import RuntimeFactory, wait_for


async def test_the_queue_opens_its_minimum_of_connections_at_start(
        runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings]) -> None:
    async with runtime_factory(settings=make_settings(queue_pool_min_size=3),
                               worker=False) as rt:
        pool = rt.queue.app.connector.pool  # type: ignore[attr-defined]
        assert pool.min_size == 3
        assert pool.get_stats()["pool_size"] == 3  # open, not grown on demand under load


async def test_the_queues_minimum_is_capped_by_its_maximum(
        runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings]) -> None:
    async with runtime_factory(settings=make_settings(queue_pool_min_size=50,
                                                      worker_concurrency=4),
                               worker=False) as rt:
        pool = rt.queue.app.connector.pool  # type: ignore[attr-defined]
        assert pool.min_size == pool.max_size == 4


async def test_drains_queued_together_skip_a_conversation_already_waiting(
        runtime_factory: RuntimeFactory, db_url: str) -> None:
    async with runtime_factory(worker=False) as rt:
        waiting, other, contact = uuid4(), uuid4(), uuid4()
        assert await rt.queue.defer_drain(waiting, contact)  # queued by another process
        await rt.queue.defer_drains({waiting: contact, other: contact})
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT lock, status FROM procrastinate_jobs WHERE lock = ANY(%s)",
                            ([str(waiting), str(other)],)).fetchall()
    assert sorted(rows) == sorted([(str(waiting), "todo"), (str(other), "todo")])


async def test_a_drain_the_database_failed_is_queued_again_soon_not_left_to_recovery(
        runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
        inbound: Callable[..., InboundMessage], db: Database) -> None:
    """The app's pool has no free connection when the drain starts (a burst, a restart):
    its first read fails with PoolTimeout. The recovery pass would only look at the
    message after 2 x QUEUE_STALLED_AFTER_S (two minutes here); it is answered soon after
    the pool has room again."""
    settings = make_settings(db_pool_min_size=1, db_pool_max_size=1, db_connect_timeout_s=0.3,
                             queue_stalled_after_s=60, queue_recovery_interval_s=60,
                             queue_drain_error_retry_s=0.3)
    async with runtime_factory(settings=settings, worker=True) as rt:
        retried = {"reason": "drain_database_error"}

        async def drain_retried() -> bool:
            return bool(rt.metrics.registry.get_sample_value("bot_recovered_jobs_total",
                                                             retried))

        async with rt.db.pool.connection():  # the app's only connection, held
            # stored through another pool, its drain queued through the worker's queue
            stored = await Ingestor(db, rt.queue, rt.metrics)(inbound(text="hello"))
            await wait_for(drain_retried, timeout=15)
        async with db.as_system() as conn:
            async def answered() -> bool:
                cur = await conn.execute("SELECT 1 FROM app.messages WHERE reply_to = %s"
                                         " AND status = 'sent'", (stored.message_id,))
                return await cur.fetchone() is not None
            await wait_for(answered, timeout=15)
