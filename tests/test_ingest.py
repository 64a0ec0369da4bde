"""Ingestion queues a conversation's drain once, and again only when it has started."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

import psycopg
import pytest

from bot.db.messages import IngestResult
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


def _round_trips(rt: object) -> float:
    registry = rt.metrics.registry  # type: ignore[attr-defined]
    return float(registry.get_sample_value("bot_db_round_trips_total") or 0.0)


async def test_messages_arriving_together_are_stored_in_one_statement_in_order(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage]) -> None:
    async with runtime_factory(worker=False) as rt:
        people = [f"+1555000{n:04d}" for n in range(3)]
        sent = [inbound(text=f"m{n}", sender_id=people[n % 3]) for n in range(30)]
        sent.append(sent[4])  # a platform retry arriving with them
        before = _round_trips(rt)
        results = await asyncio.gather(*(rt.ingest(m) for m in sent))
        trips = _round_trips(rt) - before
    # All arrived before the first store began: one statement for all of them.
    assert trips == 1
    assert [r.duplicate for r in results] == [False] * 30 + [True]
    assert results[30].message_id == results[4].message_id
    for person in range(3):
        ids = [r.message_id for r in results[person:30:3]]
        assert ids == sorted(ids) and len(set(ids)) == 10
        assert len({r.conversation_id for r in results[person:30:3]}) == 1


async def test_a_message_the_database_refuses_fails_alone(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage],
        capsys: pytest.CaptureFixture[str]) -> None:
    async with runtime_factory(worker=False) as rt:
        good = [inbound(text=f"fine {n}") for n in range(5)]
        bad = inbound(text="lone surrogate \ud800")
        outcomes = await asyncio.gather(*(rt.ingest(m) for m in [*good[:2], bad, *good[2:]]),
                                        return_exceptions=True)
    # it was in a batch with four others, which were then stored one by one
    assert "ingest_batch_failed_storing_one_by_one" in capsys.readouterr().out
    assert isinstance(outcomes[2], psycopg.Error | ValueError)
    stored = [o for n, o in enumerate(outcomes) if n != 2]
    assert all(isinstance(o, IngestResult) and not o.duplicate for o in stored)
