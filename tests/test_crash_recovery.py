"""A worker killed with SIGKILL mid-turn: after a new worker starts, one reply, once."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import psycopg

from bot.db.pool import Database
from bot.models import InboundMessage
from tests.conftest import RuntimeFactory, StartWorker, wait_for


async def outbound(db: Database, contact: Any, conversation: Any) -> list[dict[str, Any]]:
    async with db.as_user(contact) as conn:
        cur = await conn.execute(
            "SELECT id, reply_to, status FROM app.messages WHERE conversation_id = %s"
            " AND direction = 'out' ORDER BY id", (conversation,))
        return list(await cur.fetchall())


async def test_sigkill_mid_turn_then_restart_delivers_exactly_once(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    db_url: str, start_worker: StartWorker,
) -> None:
    worker = start_worker()
    async with runtime_factory(worker=False) as rt:
        first = inbound(text="first")
        r1 = await rt.ingest(first)

        async def first_answered() -> bool:
            rows = await outbound(db, r1.contact_id, r1.conversation_id)
            return len(rows) == 1 and rows[0]["status"] == "sent"
        await wait_for(first_answered, timeout=30)

        # Hold the session row so the next turn blocks inside the worker, mid-turn.
        blocker = await psycopg.AsyncConnection.connect(db_url)
        await blocker.execute("SELECT 1 FROM app.sessions WHERE conversation_id = %s FOR UPDATE",
                              (r1.conversation_id,))
        r2 = await rt.ingest(inbound(text="second", sender_id=first.sender_id,
                                     conversation_key=first.conversation_key))

        async def turn_in_progress() -> bool:
            rows = await rt.queue.app.connector.execute_query_all_async(
                "SELECT 1 FROM procrastinate_jobs WHERE status = 'doing'"
                " AND args->>'conversation_id' = %(c)s", c=str(r1.conversation_id))
            return bool(rows)
        await wait_for(turn_in_progress, timeout=30)

        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        await blocker.rollback()
        await blocker.close()
        assert len(await outbound(db, r1.contact_id, r1.conversation_id)) == 1

        start_worker()

        async def second_answered() -> bool:
            rows = await outbound(db, r2.contact_id, r2.conversation_id)
            return len(rows) == 2 and all(r["status"] == "sent" for r in rows)
        await wait_for(second_answered, timeout=60)

    rows = await outbound(db, r2.contact_id, r2.conversation_id)
    assert [r["reply_to"] for r in rows] == [r1.message_id, r2.message_id]
