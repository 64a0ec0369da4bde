"""A channel whose sends fail or hang never delays another channel's replies.

One runtime with WhatsApp (fake Twilio) and Slack (fake Slack), a worker of four slots
(so WhatsApp may hold at most two in sends). Forty WhatsApp customers write while Twilio
is unreachable; then five people write to the bot in Slack. What is asserted is the order
of events: the Slack replies are delivered while Twilio is still down, before the WhatsApp
replies have been tried again each; and once Twilio is back every WhatsApp reply goes out
exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from bot.app import create_app
from bot.models import OutboundReply
from bot.outbound.delivery import ChannelSendSlots, DeliveryLimits
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from bot.runtime import Runtime
from bot.settings import Settings
from testing.slack_api import serve_fake_slack
from testing.twilio_api import FakeTwilio
from tests.adapters.slack.requests import SIGNING_SECRET, event_body, message, signed_headers
from tests.adapters.whatsapp.fixtures import (
    fake_twilio,
    new_wa_id,
    webhook_form,
    webhooks_for,
    whatsapp_settings,
)
from tests.conftest import RuntimeFactory, wait_for

__all__ = ["fake_twilio", "whatsapp_settings"]  # fixtures of the WhatsApp tests

WHATSAPP_CUSTOMERS = 40
SLACK_PEOPLE = 5


class Echo:
    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text=f"echo: {turn.text}")


@asynccontextmanager
async def both_channels(runtime_factory: RuntimeFactory,
                        whatsapp_settings: Callable[..., Settings],
                        **overrides: Any) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    async with serve_fake_slack() as slack:
        settings = whatsapp_settings(
            slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test",
            slack_api_base_url=slack.url, slack_post_interval_s=0.0, worker_concurrency=4,
            # what used to be waited out inside a worker slot, on every send
            whatsapp_send_attempts=4, whatsapp_retry_base_s=0.5, whatsapp_retry_max_wait_s=4.0,
            whatsapp_http_timeout_s=120.0, **overrides)
        async with runtime_factory(settings=settings, router=Router(Echo())) as rt:
            app = create_app(rt.settings, runtime=rt)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://test", timeout=30) as client:
                yield rt, client


async def write_in_slack(client: httpx.AsyncClient) -> list[str]:
    """Direct messages from five people; their DM channels."""
    channels = []
    for n in range(SLACK_PEOPLE):
        channel = f"DISO{time.monotonic_ns()}{n}"
        ts = f"{time.time():.6f}"
        body = event_body(message(ts, text=f"hi {n}", user=f"UISO{n}", channel=channel,
                                  channel_type="im"), event_id=f"EvIso{channel}")
        res = await client.post("/slack/events", content=body, headers=signed_headers(body))
        assert res.status_code == 200
        channels.append(channel)
    return channels


async def sent_replies(rt: Runtime, channel: str, keys: list[str]) -> int:
    async with rt.db.as_system() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM app.messages m JOIN app.conversations c"
            " ON c.id = m.conversation_id WHERE c.channel = %s AND m.direction = 'out'"
            " AND m.status = 'sent' AND c.conversation_key = ANY(%s)", (channel, keys))
        row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


def creations(fake: FakeTwilio) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/Messages.json")]


async def test_slack_is_answered_while_twilio_hangs(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.hold_messages = twilio_back = asyncio.Event()
    try:
        async with both_channels(runtime_factory, whatsapp_settings) as (rt, client), \
                webhooks_for(rt) as whatsapp:
            customers = [new_wa_id() for _ in range(WHATSAPP_CUSTOMERS)]
            for wa_id in customers:
                await whatsapp.post(webhook_form(wa_id, "hello"))
            sends = rt.settings.sends_per_channel(rt.settings.worker_concurrency)

            async def twilio_full() -> bool:
                return len(creations(fake_twilio)) >= sends
            await wait_for(twilio_full)
            channels = await write_in_slack(client)
            keys = [f"T1:{c}" for c in channels]

            async def slack_answered() -> bool:
                return await sent_replies(rt, "slack", keys) == SLACK_PEOPLE
            await wait_for(slack_answered)
            # every Slack reply went out while Twilio still held every send it had got,
            # and no more WhatsApp sends were in flight than the channel's share
            assert not twilio_back.is_set()
            assert len(creations(fake_twilio)) == sends
            twilio_back.set()

            async def whatsapp_answered() -> bool:
                return await sent_replies(rt, "whatsapp", customers) == WHATSAPP_CUSTOMERS
            await wait_for(whatsapp_answered, timeout=60)
    finally:
        twilio_back.set()
    delivered = [r.field("To") for r in fake_twilio.sent()]
    assert sorted(delivered) == sorted(f"whatsapp:+{c}" for c in customers), "once each"


async def test_slack_is_answered_while_whatsapp_replies_retry(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.fail_rate = 1.0  # every message creation: 503
    async with both_channels(runtime_factory, whatsapp_settings, delivery_retry_base_s=2.0,
                             delivery_retry_max_wait_s=4.0, delivery_max_attempts=100
                             ) as (rt, client), webhooks_for(rt) as whatsapp:
        customers = [new_wa_id() for _ in range(WHATSAPP_CUSTOMERS)]
        for wa_id in customers:
            await whatsapp.post(webhook_form(wa_id, "hello"))

        async def all_tried() -> bool:
            return len({r.field("To") for r in creations(fake_twilio)}) == WHATSAPP_CUSTOMERS
        await wait_for(all_tried, timeout=60)
        channels = await write_in_slack(client)
        keys = [f"T1:{c}" for c in channels]

        async def slack_answered() -> bool:
            return await sent_replies(rt, "slack", keys) == SLACK_PEOPLE
        await wait_for(slack_answered)
        tries_by_then = len(creations(fake_twilio))
        # answered before the WhatsApp replies had all been tried a second time: their
        # retries wait in the queue, not in the worker's slots
        assert tries_by_then < 2 * WHATSAPP_CUSTOMERS, tries_by_then

        async def retried() -> bool:
            return len(creations(fake_twilio)) >= tries_by_then + WHATSAPP_CUSTOMERS // 2
        await wait_for(retried, timeout=60)  # still retrying while Twilio is down
        fake_twilio.fail_rate = 0.0

        async def whatsapp_answered() -> bool:
            return await sent_replies(rt, "whatsapp", customers) == WHATSAPP_CUSTOMERS
        await wait_for(whatsapp_answered, timeout=60)
    delivered = [r.field("To") for r in fake_twilio.sent()]
    assert sorted(delivered) == sorted(f"whatsapp:+{c}" for c in customers), "once each"


def test_retry_waits_double_from_the_base_honour_retry_after_and_stop_at_the_cap() -> None:
    limits = DeliveryLimits(retry_base_s=0.5, retry_max_wait_s=30.0)
    assert [limits.retry_in(n, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert limits.retry_in(1, 7.0) == 7.0
    assert limits.retry_in(10, None) == 30.0 and limits.retry_in(1, 90.0) == 30.0


def test_a_channel_takes_at_most_its_share_of_sends() -> None:
    slots = ChannelSendSlots(2)
    assert [slots.take("whatsapp") for _ in range(3)] == [True, True, False]
    assert slots.take("slack"), "another channel has its own share"
    slots.give_back("whatsapp")
    assert slots.take("whatsapp")


async def test_a_reply_refused_every_time_fails_after_the_last_attempt(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.fail_rate = 1.0
    settings = whatsapp_settings(delivery_retry_base_s=0.01, delivery_retry_max_wait_s=0.05,
                                 delivery_max_attempts=3)
    wa_id = new_wa_id()
    async with runtime_factory(settings=settings, router=Router(Echo())) as rt, \
            webhooks_for(rt) as whatsapp:
        await whatsapp.post(webhook_form(wa_id, "hello"))

        async def reply() -> dict[str, Any] | None:
            async with rt.db.as_system() as conn:
                cur = await conn.execute(
                    "SELECT m.status, m.error FROM app.messages m JOIN app.conversations c"
                    " ON c.id = m.conversation_id WHERE c.conversation_key = %s"
                    " AND m.direction = 'out'", (wa_id,))
                return await cur.fetchone()

        async def given_up() -> bool:
            row = await reply()
            return row is not None and row["status"] == "failed"
        await wait_for(given_up)
        row = await reply()
        assert row is not None and row["error"].startswith("gave up after 3 attempts: ")
    tries = [r for r in creations(fake_twilio) if r.field("To") == f"whatsapp:+{wa_id}"]
    assert len(tries) == 3 and not any(r.ok for r in tries)
