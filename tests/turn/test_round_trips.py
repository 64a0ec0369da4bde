"""A turn's database cost in round trips stays where it was brought (no silent regrowth)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.app import create_app
from bot.inbound.queue import DrainOutcome
from bot.models import InboundMessage
from bot.runtime import Runtime
from bot.settings import Settings
from testing.slack_api import serve_fake_slack
from tests.adapters.slack.requests import SIGNING_SECRET, event_body, mention, signed_headers
from tests.conftest import RuntimeFactory, wait_for

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


# A Slack turn: the same four, plus the progress observer's read of the thread it answers
# in (once per turn, in whichever worker runs it); raise it only with a reason.
MAX_ROUND_TRIPS_SLACK_TURN = 5


TEAM = "TROUNDTRIPS"


async def test_a_slack_turn_stays_within_its_round_trips(
        runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings]) -> None:
    async with serve_fake_slack() as fake:
        settings = make_settings(slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test",
                                 slack_api_base_url=fake.url, slack_post_interval_s=0.0)
        async with runtime_factory(settings=settings, worker=False) as rt:
            app = create_app(rt.settings, runtime=rt)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://test", timeout=30) as client:
                trips: list[float] = []

                async def drain_new_mention(ts: str, event_id: str) -> DrainOutcome:
                    # a team of its own: the session's database is shared with the Slack tests
                    body = event_body(mention(ts, text="<@UBOT> hello"), event_id=event_id,
                                      team=TEAM)
                    res = await client.post("/slack/events", content=body,
                                            headers=signed_headers(body))
                    assert res.status_code == 200
                    async with rt.db.as_system() as conn:
                        cur = await conn.execute(
                            "SELECT conversation_id, contact_id FROM app.messages"
                            " WHERE channel = 'slack' AND direction = 'in'"
                            " ORDER BY id DESC LIMIT 1")
                        row = await cur.fetchone()
                    assert row is not None
                    # the user's name is looked up after the acknowledgement: let it land
                    await wait_for(lambda: _named(rt))
                    before = _round_trips(rt)
                    outcome = await rt.pipeline.drain(row["conversation_id"], row["contact_id"])
                    trips.append(_round_trips(rt) - before)
                    return outcome

                assert (await drain_new_mention("1700000000.000100", "Ev1")).turns == 1
                assert (await drain_new_mention("1700000000.000200", "Ev2")).turns == 1
    assert len(fake.of("chat.update")) == 2, "both answers replaced their placeholders"
    assert 0 < trips[1] <= MAX_ROUND_TRIPS_SLACK_TURN


async def _named(rt: Runtime) -> bool:
    async with rt.db.as_system() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM app.contacts c JOIN app.channel_identities i ON i.contact_id = c.id"
            " WHERE i.channel = 'slack' AND i.external_id = %s AND c.display_name IS NOT NULL",
            (f"{TEAM}:U1",))
        return await cur.fetchone() is not None
