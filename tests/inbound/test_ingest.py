"""Ingestion queues a conversation's drain once, and again only when it has started."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

import psycopg
import pytest

from bot.models import InboundMessage, IngestResult
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
        # a text PostgreSQL cannot store (the model cleans lone surrogates; copied with an
        # update, this one skips that, as a message the database refuses for any reason)
        bad = inbound(text="fine").model_copy(update={"text": "lone surrogate \ud800"})
        outcomes = await asyncio.gather(*(rt.ingest(m) for m in [*good[:2], bad, *good[2:]]),
                                        return_exceptions=True)
    # it was in a batch with four others, which were then stored one by one
    assert "ingest_batch_failed_storing_one_by_one" in capsys.readouterr().out
    assert isinstance(outcomes[2], psycopg.Error | ValueError)
    stored = [o for n, o in enumerate(outcomes) if n != 2]
    assert all(isinstance(o, IngestResult) and not o.duplicate for o in stored)


def _contact(db_url: str, contact: UUID) -> tuple[str | None, object]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT display_name, last_inbound_at FROM app.contacts WHERE id = %s",
                           (contact,)).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_a_known_sender_keeps_one_contact_whose_name_and_last_message_follow(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage],
        db_url: str) -> None:
    async with runtime_factory(worker=False) as rt:
        first = await rt.ingest(inbound(sender_id="+15550000077", sender_name="Ana"))
        assert _contact(db_url, first.contact_id)[0] == "Ana"

        renamed = inbound(sender_id="+15550000077", sender_name="Ana María")
        second = await rt.ingest(renamed)
        name, last = _contact(db_url, second.contact_id)
        assert (second.contact_id, second.conversation_id) == (first.contact_id,
                                                              first.conversation_id)
        assert name == "Ana María" and last == renamed.received_at

        # a message without a name keeps the one known; a retry changes nothing
        nameless = await rt.ingest(inbound(sender_id="+15550000077"))
        assert _contact(db_url, nameless.contact_id)[0] == "Ana María"
        retry = await rt.ingest(renamed.model_copy(update={"sender_name": "Someone Else"}))
        assert retry.duplicate and retry.message_id == second.message_id
        assert _contact(db_url, first.contact_id)[0] == "Ana María"

        # a new conversation of the same sender (another key) is created under that contact
        elsewhere = await rt.ingest(inbound(sender_id="+15550000077", conversation_key="other"))
        assert elsewhere.contact_id == first.contact_id
        assert elsewhere.conversation_id != first.conversation_id


def _job_transactions(db_url: str, conversations: list[UUID]) -> tuple[int, int]:
    """(drain jobs of these conversations, distinct transactions that inserted them)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT xmin::text) FROM procrastinate_jobs"
                           " WHERE lock = ANY(%s)", ([str(c) for c in conversations],)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def test_the_drains_of_messages_stored_together_are_queued_together(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage],
        db_url: str) -> None:
    async with runtime_factory(worker=False) as rt:
        sent = [inbound(text=f"m{n}", sender_id=f"+1555001{n % 5:04d}") for n in range(20)]
        results = await asyncio.gather(*(rt.ingest(m) for m in sent))
    conversations = sorted({r.conversation_id for r in results})
    assert len(conversations) == 5
    # one drain per conversation, all inserted by one statement (one transaction)
    assert _job_transactions(db_url, conversations) == (5, 1)


DEFER = "procrastinate_defer_jobs_v1(procrastinate_job_to_defer_v1[])"


async def test_when_queueing_fails_only_the_messages_that_needed_a_drain_fail(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage],
        db_url: str) -> None:
    async with runtime_factory(worker=False) as rt:
        waiting = await rt.ingest(inbound(text="first", sender_id="+15550020001"))
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"ALTER FUNCTION {DEFER} RENAME TO defer_jobs_gone")
            try:
                outcomes = await asyncio.gather(
                    rt.ingest(inbound(text="second", sender_id="+15550020001")),
                    rt.ingest(inbound(text="new", sender_id="+15550020002")),
                    return_exceptions=True)
            finally:
                conn.execute("ALTER FUNCTION defer_jobs_gone(procrastinate_job_to_defer_v1[])"
                             " RENAME TO procrastinate_defer_jobs_v1")
        # the first conversation's drain was already waiting: its message is acknowledged
        assert isinstance(outcomes[0], IngestResult) and outcomes[0].drain_waiting
        assert outcomes[0].conversation_id == waiting.conversation_id
        # the new conversation has no drain: its webhook fails, so the platform retries it
        assert isinstance(outcomes[1], Exception)
