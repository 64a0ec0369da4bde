"""Stopping a worker: drains end between turns, and `bot worker` exits on SIGTERM."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import psycopg

from bot.models import InboundMessage
from tests.conftest import RuntimeFactory, StartWorker


async def test_a_drain_asked_to_stop_leaves_the_rest_for_the_queue(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage]) -> None:
    async with runtime_factory(worker=False) as rt:
        stored = [await rt.ingest(inbound(text=t, sender_id="+15550000002"))
                  for t in ("one", "two")]
        rt.pipeline.stop_requested = True
        outcome = await rt.pipeline.drain(stored[0].conversation_id, stored[0].contact_id)
        assert outcome.turns == 0 and outcome.retry_in_s == 0.0
        rt.pipeline.stop_requested = False
        outcome = await rt.pipeline.drain(stored[0].conversation_id, stored[0].contact_id)
        assert outcome.turns >= 1 and outcome.retry_in_s is None


def _last_worker_id(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_workers").fetchone()
    return int(row[0]) if row else 0


def test_bot_worker_exits_on_sigterm(db_url: str, start_worker: StartWorker) -> None:
    before = _last_worker_id(db_url)
    proc = start_worker(WORKER_SHUTDOWN_GRACE_S="2")
    deadline = time.monotonic() + 60
    while _last_worker_id(db_url) == before and time.monotonic() < deadline:
        assert proc.poll() is None, "the worker stopped by itself"
        time.sleep(0.2)
    assert _last_worker_id(db_url) > before, "the worker never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
