"""A turn's database cost in round trips stays where it was brought (no silent regrowth)."""

from __future__ import annotations

from collections.abc import Callable

from bot.models import InboundMessage
from bot.runtime import Runtime
from tests.conftest import RuntimeFactory

# Measured for this turn (16 when the pipelined units landed, 8 with the one-trip units
# and the turn functions, 4 since the reply's transaction claims it for delivery and the
# web chat's progress events ride on the turn's units: the drain's first read, the
# opening, the reply, the delivery status); raise it only with a reason.
MAX_ROUND_TRIPS_DIRECT_TURN = 4


async def test_a_direct_handler_turn_stays_within_its_round_trips(
        runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage]) -> None:
    async with runtime_factory(worker=False) as rt:
        warm = await rt.ingest(inbound(text="hello"))
        await rt.pipeline.drain(warm.conversation_id, warm.contact_id)  # sessions, caches
        stored = await rt.ingest(inbound(text="hi there", sender_id="+15550000003"))
        before = _round_trips(rt)
        outcome = await rt.pipeline.drain(stored.conversation_id, stored.contact_id)
        trips = _round_trips(rt) - before
    assert outcome.turns == 1
    assert 0 < trips <= MAX_ROUND_TRIPS_DIRECT_TURN


def _round_trips(rt: Runtime) -> float:
    return rt.metrics.registry.get_sample_value("bot_db_round_trips_total") or 0.0
