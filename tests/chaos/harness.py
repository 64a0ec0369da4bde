"""The fault scenarios' common parts: the bot wired to fakes, platforms that retry, checks.

Every scenario sends N messages over several WhatsApp and Slack conversations
(each conversation's messages one after another, conversations at once), injects
its fault, and then `check_exactly_once` asks the database and the fakes' records
whether every message got exactly one reply, in order per conversation.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from bench import traffic
from bench.results import PLACEHOLDER
from bench.servers import Fakes
from bench.servers import running_fakes as bench_fakes
from bench.traffic import Outgoing, Traffic
from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import Settings
from tests.conftest import RuntimeFactory, wait_for

PUBLIC = "https://bot.example.com"


@asynccontextmanager
async def running_fakes(llm_delay_s: float = 0.0) -> AsyncIterator[Fakes]:
    """The load benchmark's fakes, with the short answer the scenarios check for."""
    async with bench_fakes(llm_delay_s, reply="Yoga is at 7 pm.") as fakes:
        yield fakes


def channel_settings(fakes: Fakes) -> dict[str, Any]:
    """Settings (as keyword overrides) pointing every channel and the LLM at the fakes."""
    return {
        "twilio_account_sid": traffic.ACCOUNT_SID, "twilio_auth_token": traffic.AUTH_TOKEN,
        "twilio_whatsapp_from": traffic.SENDER, "twilio_api_base_url": fakes.twilio.base_url,
        "public_base_url": PUBLIC, "whatsapp_burst_window_s": 0.0,
        "whatsapp_typing_after_s": -1.0, "whatsapp_retry_base_s": 0.01,
        "whatsapp_retry_max_wait_s": 0.05,
        "slack_signing_secret": traffic.SLACK_SECRET, "slack_bot_token": traffic.SLACK_TOKEN,
        "slack_api_base_url": fakes.slack.url, "slack_post_interval_s": 0.0,
        "llm_provider": "openai", "openai_base_url": fakes.llm.url + "/v1",
        "openai_api_key": "sk-chaos", "llm_stream": False,
        "llm_retry_initial_s": 0.01, "llm_retry_jitter_s": 0.0, "llm_retry_max_wait_s": 0.1,
    }


def environment(settings: dict[str, Any]) -> dict[str, str]:
    """The same settings as environment variables, for `bot worker` subprocesses."""
    return {k.upper(): str(v) for k, v in settings.items()}


@dataclass
class Platforms:
    """Twilio and Slack as they post webhooks: signed, retried on 5xx and errors."""

    client: httpx.AsyncClient
    traffic: Traffic = field(default_factory=lambda: Traffic(PUBLIC, conversations=1_000_000))
    sent: list[Outgoing] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    #: extra deliveries of every webhook (Slack: with X-Slack-Retry-Num; Twilio: the same)
    slack_redeliveries: int = 0
    twilio_redeliveries: int = 0
    retry_interval_s: float = 0.2

    async def post(self, item: Outgoing, retry_num: int | None = None) -> int:
        headers = dict(item.headers)
        if retry_num is not None and item.channel == "slack":
            headers = traffic.slack_headers(item.body.decode(), retry=retry_num)
        try:
            response = await self.client.post(item.path, content=item.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:
            status = 599
        self.statuses.append(status)
        return status

    async def deliver(self, item: Outgoing, deadline_s: float = 60.0) -> None:
        """Post until acknowledged (like the platforms, which retry on 5xx), then redeliver."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline_s
        while await self.post(item) >= 500:
            assert loop.time() < give_up, "never acknowledged"
            await asyncio.sleep(self.retry_interval_s)
        self.sent.append(item)
        extra = self.slack_redeliveries if item.channel == "slack" else self.twilio_redeliveries
        for n in range(1, extra + 1):
            await self.post(item, retry_num=n)

    async def conversation(self, make: Callable[[int], Outgoing], n: int,
                           pause_s: float = 0.0) -> None:
        for _ in range(n):
            await self.deliver(make(0))
            if pause_s:
                await asyncio.sleep(pause_s)

    async def run(self, conversations: int, per_conversation: int, pause_s: float = 0.0,
                  channels: tuple[str, ...] = ("whatsapp", "slack")) -> None:
        """`conversations` conversations on each of `channels`, all at once."""
        jobs = []
        for _ in range(conversations):
            for channel in channels:
                make = getattr(Traffic(PUBLIC, conversations=1), channel)
                jobs.append(self.conversation(make, per_conversation, pause_s))
        await asyncio.gather(*jobs)


@asynccontextmanager
async def http_client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(rt.settings, runtime=rt)
    # An unhandled error is a 500 to the platform, as uvicorn would answer it.
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000),
                                    raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC, timeout=30) as client:
        yield client


@asynccontextmanager
async def chaos_bot(runtime_factory: RuntimeFactory, settings: Settings, *,
                    worker: bool = True) -> AsyncIterator[tuple[Runtime, Platforms]]:
    async with runtime_factory(settings=settings, worker=worker) as rt, \
            http_client(rt) as client:
        yield rt, Platforms(client)


def fake_replies(fakes: Fakes) -> dict[str, list[str]]:
    """The external ids of replies the fakes accepted, per conversation, in order."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in fakes.twilio.sent():
        out[str(r.field("To"))].append(str(r.sid))
    for c in fakes.slack.calls:
        if (c.method in ("chat.postMessage", "chat.update") and c.result.get("ok")
                and c.args.get("text") != PLACEHOLDER):
            ts = c.args["ts"] if c.method == "chat.update" else c.result["ts"]
            out[str(c.args.get("channel"))].append(f"{c.args.get('channel')}:{ts}")
    return out


def stored_replies(db_url: str, sent: list[Outgoing]) -> dict[str, list[dict[str, Any]]]:
    """Per conversation, each sent message with its replies, in the order they were sent."""
    by_conv: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with psycopg.connect(db_url) as conn:
        for item in sent:
            rows = conn.execute(
                "SELECT i.id, o.id AS reply_id, o.status, o.external_id, o.text"
                " FROM app.messages i LEFT JOIN app.messages o"
                " ON o.reply_to = i.id AND o.direction = 'out'"
                " WHERE i.direction = 'in' AND i.channel = %s AND i.external_id = %s"
                " ORDER BY o.id", (item.channel, item.external_id)).fetchall()
            by_conv[item.conversation].append({"inbound": [r[0] for r in rows],
                                               "replies": [r[1:] for r in rows if r[1]]})
    return by_conv


async def wait_all_answered(db_url: str, sent: list[Outgoing], timeout_s: float = 90.0) -> None:
    async def done() -> bool:
        stored = await asyncio.to_thread(stored_replies, db_url, sent)
        return all(m["replies"] and all(r[1] in ("sent", "failed") for r in m["replies"])
                   for msgs in stored.values() for m in msgs)
    await wait_for(done, timeout=timeout_s, interval=0.25)


def check_exactly_once(db_url: str, sent: list[Outgoing], fakes: Fakes) -> None:
    """Every message stored once and answered once, delivered once, in order."""
    stored = stored_replies(db_url, sent)
    delivered = fake_replies(fakes)
    assert len({(s.channel, s.external_id) for s in sent}) == len(sent)
    for conv, msgs in stored.items():
        for m in msgs:
            assert len(set(m["inbound"])) == 1, f"{conv}: stored {len(set(m['inbound']))} times"
            assert len(m["replies"]) == 1, f"{conv}: {len(m['replies'])} replies"
            assert m["replies"][0][1] == "sent", f"{conv}: reply {m['replies'][0][1]}"
        inbound_ids = [m["inbound"][0] for m in msgs]
        assert inbound_ids == sorted(inbound_ids), f"{conv}: stored out of order"
        reply_ids = [m["replies"][0][0] for m in msgs]
        assert reply_ids == sorted(reply_ids), f"{conv}: answered out of order"
        expected = [m["replies"][0][2] for m in msgs]
        got = delivered.get(conv, [])
        # A reply confirmed on the platform after a failure (`was_sent`) is marked sent
        # without its platform id; count and order must still match.
        assert len(got) == len(expected) and all(
            want is None or want == have for want, have in zip(expected, got, strict=True)), (
            f"{conv}: platform got {got} for {expected}")
