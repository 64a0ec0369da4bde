"""Delivery: the reply is claimed in the transaction that stores it, and a channel that
streams progress hears `done` only once its reply is marked delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.models import InboundMessage, StreamEvent
from bot.runtime import Runtime
from tests.conftest import RuntimeFactory

REPLY_STATUS_SQL = ("SELECT status, attempts FROM app.messages"
                    " WHERE direction = 'out' AND reply_to = %s")


async def _reply_status(rt: Runtime, message_id: int) -> tuple[str, int] | None:
    rows = await rt.db.call_as_system(REPLY_STATUS_SQL, (message_id,))
    return None if not rows else (rows[0]["status"], rows[0]["attempts"])


async def test_the_turn_commits_its_reply_already_claimed_and_delivery_sends_it_once(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage]) -> None:
    async with runtime_factory(worker=False) as rt:
        stored = await rt.ingest(inbound(text="hello"))
        batch = await rt.pipeline.next_batch(stored.conversation_id, stored.contact_id)
        ready = await rt.pipeline.run_turn(batch)
        # committed as `sending`: a worker that dies now leaves a row that recovery
        # checks with the platform before sending (bot/outbound/delivery.py), never a second claim
        assert await _reply_status(rt, stored.message_id) == ("sending", 1)
        assert ready is not None and [p.reply_to for p in ready.pending] == [stored.message_id]
        assert ready.claimed == ready.pending[0].id
        sent, _ = await rt.pipeline.deliverer.flush_then_read_next(
            stored.conversation_id, stored.contact_id, ready=ready)
        assert sent == 1
        assert await _reply_status(rt, stored.message_id) == ("sent", 1)
        # a drain afterwards finds nothing left to send
        outcome = await rt.pipeline.drain(stored.conversation_id, stored.contact_id)
        assert outcome.turns == 0
        assert await _reply_status(rt, stored.message_id) == ("sent", 1)


async def test_web_progress_arrives_in_order_and_done_after_the_reply_is_sent(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage]) -> None:
    async with runtime_factory(worker=False) as rt:
        stored = await rt.ingest(inbound(channel="web", text="hello"))
        seen: list[tuple[str, tuple[str, int] | None]] = []
        done: StreamEvent | None = None
        async with rt.events.subscribe(stored.message_id) as events:
            # each event's row status is read as it arrives, while the drain goes on
            drain = asyncio.create_task(
                rt.pipeline.drain(stored.conversation_id, stored.contact_id))
            while not seen or seen[-1][0] != "done":
                event: StreamEvent = await asyncio.wait_for(events.get(), timeout=10)
                seen.append((event.event, await _reply_status(rt, stored.message_id)))
                if event.event == "done":
                    done = event
            await drain
    assert [name for name, _ in seen] == ["status", "text_delta", "done"]
    assert seen[-1][1] == ("sent", 1)
    assert done is not None and isinstance(done.data["reply"], dict) and done.data["reply"]["text"]
