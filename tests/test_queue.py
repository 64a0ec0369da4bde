"""The job queue's connections: opened at start, so a burst is queued at once."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import psycopg

from bot.settings import Settings
from tests.conftest import RuntimeFactory


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
