"""The worker is started again after a database error stops it (e.g. PostgreSQL
restarting under it), instead of leaving the process acknowledging webhooks that
nobody answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg

from bot.models import InboundMessage
from bot.runtime import Runtime
from bot.settings import Settings
from tests.conftest import RuntimeFactory, wait_for

FETCH = "procrastinate_fetch_job_v2(character varying[], bigint)"


async def answered(rt: Runtime, message_id: int) -> bool:
    """Whether the message's reply was delivered."""
    async with rt.db.as_system() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM app.messages WHERE reply_to = %s AND status = 'sent'", (message_id,))
        return await cur.fetchone() is not None


async def test_worker_restarts_after_a_database_error(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(queue_worker_restart_s=0.1)
    async with runtime_factory(settings=settings, worker=True) as rt:
        # Every fetch of a job fails for a while, as during a restart; procrastinate's
        # worker stops on the first one.
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"ALTER FUNCTION {FETCH} RENAME TO fetch_job_gone")
            try:
                async def restarted() -> bool:
                    return bool(rt.metrics.registry.get_sample_value(
                        "bot_recovered_jobs_total", {"reason": "worker_restart"}))
                await wait_for(restarted, timeout=10)
            finally:
                conn.execute("ALTER FUNCTION fetch_job_gone(character varying[], bigint)"
                             " RENAME TO procrastinate_fetch_job_v2")
        result = await rt.ingest(inbound(text="hello"))
        await wait_for(lambda: answered(rt, result.message_id), timeout=30)
        assert rt._worker is not None and not rt._worker.done()



FINISH = "procrastinate_finish_job_v1(bigint, procrastinate_job_status, boolean)"


async def test_a_job_whose_end_went_unrecorded_does_not_hold_its_conversation_back(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db_url: str,
    make_settings: Callable[..., Settings],
) -> None:
    """The database goes away just as a drain ends: procrastinate cannot record the end,
    the job stays `doing` under a worker that lives on (so it never looks stalled), and
    its lock would keep every later drain of the conversation waiting."""
    settings = make_settings(queue_stalled_after_s=1.0, queue_recovery_interval_s=0.2)
    async with runtime_factory(settings=settings, worker=True) as rt:
        async def stuck() -> bool:
            async with rt.db.as_system() as conn:
                cur = await conn.execute(
                    "SELECT 1 FROM procrastinate_jobs WHERE status = 'doing'"
                    " AND args->>'conversation_id' = %s", (str(first.conversation_id),))
                return await cur.fetchone() is not None

        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"ALTER FUNCTION {FINISH} RENAME TO finish_job_gone")
            try:
                first = await rt.ingest(inbound(text="hello", sender_id="user-unrecorded"))
                await wait_for(lambda: answered(rt, first.message_id), timeout=30)
                await asyncio.sleep(0.5)  # the worker tries to record the job's end, and fails
                assert await stuck()
            finally:
                conn.execute("ALTER FUNCTION finish_job_gone(bigint, procrastinate_job_status,"
                             " boolean) RENAME TO procrastinate_finish_job_v1")
        second = await rt.ingest(inbound(text="again", sender_id="user-unrecorded"))
        await wait_for(lambda: answered(rt, second.message_id), timeout=30)
    assert rt.metrics.registry.get_sample_value(
        "bot_recovered_jobs_total", {"reason": "unrecorded_job_end"}) == 1.0
