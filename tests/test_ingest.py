"""Ingestion queues a conversation's drain once, and again only when it has started."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import psycopg

from bot.models import InboundMessage
from tests.conftest import RuntimeFactory


def _drain_jobs(db_url: str, conversation: UUID) -> list[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT status FROM procrastinate_jobs WHERE lock = %s ORDER BY id",
                            (str(conversation),)).fetchall()
    return [str(r[0]) for r in rows]


async def test_a_waiting_drain_takes_later_messages_without_a_second_job(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage],
        db_url: str) -> None:
    async with runtime_factory(worker=False) as rt:
        first = await rt.ingest(inbound(text="one", sender_id="+15550000001"))
        assert not first.drain_waiting
        message = inbound(text="two", sender_id="+15550000001")
        second = await rt.ingest(message)
        again = await rt.ingest(message)  # a platform retry
        assert second.conversation_id == first.conversation_id
        assert second.drain_waiting and again.drain_waiting and again.duplicate
        assert _drain_jobs(db_url, first.conversation_id) == ["todo"]

        # Once the drain has started it may have read past this message: queue another.
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE lock = %s",
                         (str(first.conversation_id),))
        third = await rt.ingest(inbound(text="three", sender_id="+15550000001"))
        assert not third.drain_waiting
        assert _drain_jobs(db_url, first.conversation_id) == ["doing", "todo"]
