"""The durable pipeline: dedupe, ordering per conversation, concurrency across them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from uuid import UUID, uuid4

from bot.db.pool import Database
from bot.intents.contract import Classification, LLMGate, TurnScope
from bot.models import InboundMessage, OutboundReply
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from tests.conftest import RuntimeFactory, wait_for


async def replies_of(
    db: Database, contact_id: UUID, conversation_id: UUID
) -> list[dict[str, object]]:
    async with db.as_user(contact_id) as conn:
        cur = await conn.execute(
            "SELECT o.text, o.status, o.reply_to, i.text AS question FROM app.messages o"
            " JOIN app.messages i ON i.id = o.reply_to"
            " WHERE o.conversation_id = %s AND o.direction = 'out' ORDER BY o.id",
            (conversation_id,))
        return list(await cur.fetchall())


class EchoResponder:
    """Answers with the message text, so order can be checked."""

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text=f"echo: {turn.text}")


async def test_same_message_three_times_concurrently_gives_one_message_one_reply(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    message = inbound(text="only once")
    async with runtime_factory(router=Router(EchoResponder())) as rt:
        results = await asyncio.gather(*(rt.ingest(message) for _ in range(3)))
        assert len({r.message_id for r in results}) == 1
        assert sorted(r.duplicate for r in results) == [False, True, True]
        first = results[0]

        async def answered() -> bool:
            return len(await replies_of(db, first.contact_id, first.conversation_id)) >= 1
        await wait_for(answered)
        await asyncio.sleep(0.5)  # give a wrongly queued second turn the chance to show up
        replies = await replies_of(db, first.contact_id, first.conversation_id)
    assert [r["text"] for r in replies] == ["echo: only once"]
    async with db.as_user(first.contact_id) as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.messages WHERE direction = 'in'"
                                 " AND conversation_id = %s", (first.conversation_id,))
        assert (await cur.fetchone()) == {"n": 1}


async def test_twenty_messages_in_one_conversation_are_answered_in_order(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    async with runtime_factory(router=Router(EchoResponder())) as rt:
        first = inbound(text="m0")
        results = [await rt.ingest(first)]
        for i in range(1, 20):
            results.append(await rt.ingest(inbound(
                text=f"m{i}", sender_id=first.sender_id,
                conversation_key=first.conversation_key)))
        r0 = results[0]

        async def all_delivered() -> bool:
            rows = await replies_of(db, r0.contact_id, r0.conversation_id)
            return len(rows) == 20 and all(r["status"] == "sent" for r in rows)
        await wait_for(all_delivered, timeout=60)
        replies = await replies_of(db, r0.contact_id, r0.conversation_id)
    assert [r["text"] for r in replies] == [f"echo: m{i}" for i in range(20)]
    assert [r["question"] for r in replies] == [f"m{i}" for i in range(20)]
    assert {r["status"] for r in replies} == {"sent"}


class BarrierResponder:
    """Holds every turn until `parties` turns are in progress at the same time.

    If conversations were processed one after another, the barrier would never fill
    and the turns would fail, so passing proves they run concurrently.

    Only turns whose text starts with `tag` wait: a conversation an earlier test left
    unanswered in the shared database may be drained here too, and must neither fill
    nor block the barrier.
    """

    def __init__(self, parties: int, tag: str) -> None:
        self.barrier = asyncio.Barrier(parties)
        self.tag = tag

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        if not turn.text.startswith(self.tag):
            return OutboundReply(text="not this test's")
        async with asyncio.timeout(30):
            await self.barrier.wait()
        return OutboundReply(text="together")


async def test_twenty_conversations_progress_concurrently(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    make_settings: Callable[..., object],
) -> None:
    tag = "barrier-" + uuid4().hex[:8]
    responder = BarrierResponder(20, tag)
    settings = make_settings(worker_concurrency=25, turn_max_attempts=1)
    async with runtime_factory(router=Router(responder), settings=settings) as rt:
        results = await asyncio.gather(
            *(rt.ingest(inbound(text=f"{tag} c{i}")) for i in range(20)))

        async def all_answered() -> bool:
            counts = [len(await replies_of(db, r.contact_id, r.conversation_id)) for r in results]
            return all(c == 1 for c in counts)
        await wait_for(all_answered, timeout=60)
        texts = [(await replies_of(db, r.contact_id, r.conversation_id))[0]["text"]
                 for r in results]
    assert texts == ["together"] * 20


class FlakyResponder:
    """Fails the first `failures` attempts of each conversation, then answers.

    Attempts are counted per conversation: the test database is shared by the whole
    run, so a runtime's recovery may also drain a conversation an earlier test left
    unanswered, and that turn is not this test's business.
    """

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: Counter[UUID] = Counter()

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        self.calls[turn.conversation_id] += 1
        if self.calls[turn.conversation_id] <= self.failures:
            raise ConnectionError("transient")
        return OutboundReply(text="after retry")


async def test_failed_turn_is_retried_and_answered_once(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    responder = FlakyResponder(failures=1)
    async with runtime_factory(router=Router(responder)) as rt:
        r = await rt.ingest(inbound(text="try me"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered, timeout=30)
    replies = await replies_of(db, r.contact_id, r.conversation_id)
    assert [x["text"] for x in replies] == ["after retry"]
    assert responder.calls[r.conversation_id] == 2


async def test_turn_failing_every_attempt_gets_an_apology_not_an_error(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    make_settings: Callable[..., object],
) -> None:
    responder = FlakyResponder(failures=100)
    settings = make_settings(turn_max_attempts=1)
    async with runtime_factory(router=Router(responder), settings=settings) as rt:
        r = await rt.ingest(inbound(text="doomed"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered, timeout=30)
    (reply,) = await replies_of(db, r.contact_id, r.conversation_id)
    assert "went wrong" in str(reply["text"])
    assert "ConnectionError" not in str(reply["text"])


async def test_classification_is_stored_for_each_turn(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    class Fixed:
        async def classify(self, text: str, *, previous_intent: str | None = None,
                           payload: str | None = None, scope: TurnScope | None = None,
                           llm_gate: LLMGate | None = None) -> Classification:
            return Classification("greeting", 0.9, "local", [("greeting", 0.9), ("help", 0.1)], 1.5)

    async with runtime_factory(router=Router(EchoResponder()), classifier=Fixed()) as rt:
        r = await rt.ingest(inbound(text="hi"))

        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered)
    async with db.as_user(r.contact_id) as conn:
        cur = await conn.execute("SELECT intent, method, alternatives FROM"
                                 " app.intent_classifications WHERE message_id = %s",
                                 (r.message_id,))
        row = await cur.fetchone()
    assert row is not None and row["intent"] == "greeting" and row["method"] == "local"
    assert row["alternatives"][0] == {"intent": "greeting", "confidence": 0.9}


async def test_message_stored_without_a_worker_is_answered_when_one_starts(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    async with runtime_factory(worker=False) as rt:
        r = await rt.ingest(inbound(text="anyone there?"))
        # drop the queued job, as if the process died between storing and queueing
        await rt.queue.app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE args->>'conversation_id' = %(c)s",
            c=str(r.conversation_id))
    assert await replies_of(db, r.contact_id, r.conversation_id) == []
    async with runtime_factory(router=Router(EchoResponder())):
        async def answered() -> bool:
            return len(await replies_of(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered)
