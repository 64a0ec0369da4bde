"""The Slack support console end to end: a running runtime, signed Slack requests
through the ASGI app, and the real slack-sdk client against the fake Web API."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from adapters.slack.console_format import BACK, CLAIM, RESOLVE
from bot.app import create_app
from bot.handoff.console import HandoffView
from bot.models import InboundMessage, OutboundReply
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from bot.runtime import Runtime
from testing.slack_api import BOT_ID, BOT_USER_ID, FakeSlackApi, serve_fake_slack
from tests.adapters.slack.requests import (
    SIGNING_SECRET,
    action_body,
    event_body,
    mention,
    message,
    signed_headers,
)
from tests.conftest import RuntimeFactory, wait_for
from tests.handoff.test_flow import KeywordClassifier

SUPPORT = "CSUP"


class RecordingResponder:
    """Stands in for the agent on "yoga" questions and keeps the history it was given."""

    def __init__(self) -> None:
        self.histories: list[list[dict[str, Any]]] = []

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        self.histories.append(turn.history)
        return OutboundReply(text="Yoga is at 6 pm.")


@dataclass
class Console:
    fake: FakeSlackApi
    client: httpx.AsyncClient
    runtime: Runtime
    responder: RecordingResponder

    async def post(self, body: str, *, form: bool = False,
                   retry: int | None = None) -> httpx.Response:
        headers = signed_headers(body, content_type="application/x-www-form-urlencoded"
                                 if form else "application/json")
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        res = await self.client.post("/slack/events", content=body, headers=headers)
        assert res.status_code == 200
        return res

    async def staff_says(self, text: str, thread_ts: str, *, user: str = "U1",
                         ts: str | None = None, retry: int | None = None, **extra: Any) -> str:
        ts = ts or new_ts()
        event = message(ts, text=text, user=user, channel=SUPPORT, thread_ts=thread_ts, **extra)
        await self.post(event_body(event, event_id=f"Ev-{ts}"), retry=retry)
        return ts

    async def click(self, action_id: str, card_ts: str, handoff_id: UUID,
                    user: str = "U1") -> None:
        await self.post(action_body(message_ts=card_ts, value=str(handoff_id), title="x",
                                    thread_ts=None, channel=SUPPORT, user=user,
                                    action_id=action_id, action_ts=new_ts()), form=True)

    def cards(self) -> list[dict[str, Any]]:
        return [c.args | {"ts": c.result.get("ts")} for c in self.fake.of("chat.postMessage")
                if c.args.get("channel") == SUPPORT and not c.args.get("thread_ts")]

    def thread(self, ts: str) -> list[str]:
        return [str(c.args["text"]) for c in self.fake.of("chat.postMessage")
                if c.args.get("channel") == SUPPORT and c.args.get("thread_ts") == ts]

    def card_updates(self, ts: str) -> list[dict[str, Any]]:
        return [c.args for c in self.fake.of("chat.update") if c.args.get("ts") == ts]

    async def outbound(self, conversation_id: UUID) -> list[dict[str, Any]]:
        async with self.runtime.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT text, status, author, rich, error FROM app.messages"
                " WHERE conversation_id = %s AND direction = 'out' ORDER BY id",
                (conversation_id,))
            return list(await cur.fetchall())

    async def announced(self, conversation_id: UUID) -> HandoffView:
        """Wait until the handoff's card is posted and its reference stored."""
        found: list[HandoffView] = []

        async def stored() -> bool:
            view = await self.runtime.handoffs.open_handoff(conversation_id)
            found[:] = [view] if view is not None and view.console else []
            return bool(found)
        await wait_for(stored)
        return found[0]

    async def sent(self, conversation_id: UUID, count: int) -> Callable[[], Any]:
        async def check() -> bool:
            rows = await self.outbound(conversation_id)
            return len(rows) >= count and all(r["status"] in ("sent", "failed") for r in rows)
        return check


def new_ts() -> str:
    return f"{time.time():.6f}"


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.fixture
async def console(runtime_factory: RuntimeFactory, make_settings: Any
                  ) -> AsyncIterator[Console]:
    responder = RecordingResponder()

    class ConsoleRuntime(Runtime):
        def build_router(self) -> Router:
            router = super().build_router()
            router.by_intent["class_schedule"] = responder
            return router

    async with serve_fake_slack() as fake:
        settings = make_settings(
            slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test",
            slack_api_base_url=fake.url, slack_post_interval_s=0.0,
            handoff_slack_channel=SUPPORT, handoff_mention="<!subteam^S1>",
            handoff_sweep_interval_s=3600)
        async with runtime_factory(settings=settings, classifier=KeywordClassifier(),
                                   runtime_class=ConsoleRuntime) as rt:
            app = create_app(rt.settings, runtime=rt)
            started = datetime.now(UTC)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://test", timeout=30) as client:
                yield Console(fake, client, rt, responder)
            # the database is shared by the test run: leave no handoff waiting for others
            for view in await rt.handoffs.list_open():
                if view.created_at >= started:
                    await rt.handoffs.finish(view.id, "test", back_to_bot=False)


async def test_web_user_handed_to_slack_and_back_to_the_bot(
    console: Console, inbound: Callable[..., InboundMessage],
) -> None:
    rt = console.runtime
    first = inbound(text="I want to talk to a person", sender_name="+44 7700 900123")
    r = await rt.ingest(first)

    async def say(text: str) -> None:
        await rt.ingest(inbound(text=text, sender_id=first.sender_id,
                                conversation_key=first.conversation_key))

    handoff = await console.announced(r.conversation_id)
    card = console.cards()[0]
    assert action_ids(card["blocks"]) == [CLAIM, RESOLVE, BACK]
    assert {e["value"] for b in card["blocks"] if b["type"] == "actions"
            for e in b["elements"]} == {str(handoff.id)}
    shown = json.dumps([b for b in card["blocks"] if b["type"] != "actions"])
    assert "Web chat" in shown and "asked for a person" in shown
    assert "7700 900123" not in shown and "+***23" in shown, "a phone number as name is masked"
    assert str(handoff.contact_id) not in shown and str(r.conversation_id) not in shown
    assert handoff.console == {"slack_channel": SUPPORT, "slack_ts": card["ts"]}
    await wait_for(await console.sent(r.conversation_id, 1))

    # the customer writes again: into the thread (never pinging anyone); the bot is quiet
    await say("are you there? <!channel>")

    async def mirrored() -> bool:
        return any("are you there?" in t for t in console.thread(card["ts"]))
    await wait_for(mirrored)
    line = next(t for t in console.thread(card["ts"]) if "are you there?" in t)
    assert "&lt;!channel&gt;" in line and "<!channel>" not in line
    assert len(await console.outbound(r.conversation_id)) == 1

    # Claim: everyone sees who took it; a second click only tells the clicker
    await console.click(CLAIM, card["ts"], handoff.id, user="U1")

    async def claimed() -> bool:
        return any("Claimed by *Alice*" in json.dumps(u["blocks"])
                   for u in console.card_updates(card["ts"]))
    await wait_for(claimed)
    update = console.card_updates(card["ts"])[-1]
    assert action_ids(update["blocks"]) == [RESOLVE, BACK]
    assert any("Claimed by Alice" in t for t in console.thread(card["ts"]))
    await console.click(CLAIM, card["ts"], handoff.id, user="U2")

    async def whispered() -> bool:
        return bool(console.fake.of("chat.postEphemeral"))
    await wait_for(whispered)
    ephemeral = console.fake.of("chat.postEphemeral")[0].args
    assert ephemeral["user"] == "U2" and "Alice" in ephemeral["text"]

    # a staff reply in the thread reaches the customer, once even when Slack retries
    reply_ts = await console.staff_says(
        "Hi, Alice here &amp; happy to help: <https://example.com/refund|refund form>",
        card["ts"])
    await console.staff_says("ignored", card["ts"], ts=reply_ts, retry=1)
    await wait_for(await console.sent(r.conversation_id, 2))
    rows = await console.outbound(r.conversation_id)
    assert len(rows) == 2
    assert rows[1]["text"] == ("Hi, Alice here & happy to help: "
                               "[refund form](https://example.com/refund)")
    assert rows[1]["author"] == "Alice" and rows[1]["rich"]["from_human"] is True
    assert rows[1]["status"] == "sent"

    # an internal note and the bot's own thread posts are not relayed
    await console.staff_says("// card was charged twice, checking", card["ts"])
    await console.staff_says("mirror of the bot", card["ts"], user=BOT_USER_ID, bot_id=BOT_ID)
    await console.click(BACK, card["ts"], handoff.id, user="U1")

    async def returned() -> bool:
        return any("Back with the bot" in json.dumps(u["blocks"])
                   for u in console.card_updates(card["ts"]))
    await wait_for(returned)
    assert action_ids(console.card_updates(card["ts"])[-1]["blocks"]) == []
    await wait_for(await console.sent(r.conversation_id, 3))
    rows = await console.outbound(r.conversation_id)
    assert "back with the automated assistant" in rows[2]["text"]
    assert not [x for x in rows if "charged twice" in x["text"] or "mirror" in x["text"]]

    # the bot answers again, with what the person said in its context
    await say("when is yoga?")
    await wait_for(await console.sent(r.conversation_id, 4))
    assert (await console.outbound(r.conversation_id))[3]["text"] == "Yoga is at 6 pm."
    staff = [m for m in console.responder.histories[-1] if m["speaker"] == "staff"]
    assert [(m["author"], m["text"][:15]) for m in staff] == [("Alice", "Hi, Alice here ")]

    # writing under a closed handoff tells staff it went nowhere
    await console.staff_says("one more thing", card["ts"])

    async def refused() -> bool:
        return any("not sent" in t for t in console.thread(card["ts"]))
    await wait_for(refused)
    assert len(await console.outbound(r.conversation_id)) == 4


async def test_resolve_closes_the_session_and_reminders_go_into_the_thread(
    console: Console, inbound: Callable[..., InboundMessage],
) -> None:
    rt = console.runtime
    r = await rt.ingest(inbound(text="a person please", sender_name="Dana"))

    handoff = await console.announced(r.conversation_id)
    card_ts = console.cards()[0]["ts"]
    async with rt.db.as_system() as conn:
        cur = await conn.execute("SELECT announced_at FROM app.handoffs WHERE id = %s",
                                 (handoff.id,))
        row = await cur.fetchone()
    assert row is not None
    announced: datetime = row["announced_at"]
    await rt.handoffs.sweep(now=announced + timedelta(minutes=11))
    reminder = [t for t in console.thread(card_ts) if "Still waiting" in t]
    assert len(reminder) == 1 and "<!subteam^S1>" in reminder[0], "the group is mentioned"
    assert not console.card_updates(card_ts), "a reminder leaves the card as it is"

    await console.click(RESOLVE, card_ts, handoff.id, user="U2")

    async def resolved() -> bool:
        return any("Resolved by *Bob*" in json.dumps(u["blocks"])
                   for u in console.card_updates(card_ts))
    await wait_for(resolved)
    async with rt.db.as_user(r.contact_id) as conn:
        cur = await conn.execute("SELECT status, close_reason FROM app.sessions"
                                 " WHERE conversation_id = %s", (r.conversation_id,))
        assert await cur.fetchone() == {"status": "closed", "close_reason": "resolved"}
    assert rt.metrics.registry.get_sample_value("bot_handoff_resolve_seconds_count") == 1


async def test_slack_dm_user_gets_staff_replies_and_failures_are_reported(
    console: Console,
) -> None:
    rt = console.runtime
    dm = "D" + uuid4().hex[:8].upper()  # a DM channel of its own in the shared database
    await console.post(event_body(message(new_ts(), text="person please", channel=dm,
                                          channel_type="im", user="U2"), event_id="EvDM1"))

    async def carded() -> bool:
        return bool(console.cards()) and await rt.handoffs.find_by_console(
            "slack_ts", console.cards()[0]["ts"]) is not None
    await wait_for(carded)
    card = console.cards()[0]
    assert "Slack" in json.dumps(card["blocks"]) and "Bob" in json.dumps(card["blocks"])
    handoff = await rt.handoffs.find_by_console("slack_ts", card["ts"])
    assert handoff is not None
    await console.click(CLAIM, card["ts"], handoff.id)

    async def claimed() -> bool:
        return bool(console.card_updates(card["ts"]))
    await wait_for(claimed)

    await console.staff_says("Hello from the team", card["ts"])

    async def in_dm() -> bool:
        return any(c.args.get("channel") == dm and "Hello from the team" in str(c.args)
                   for c in console.fake.of("chat.postMessage"))
    await wait_for(in_dm)
    posted = next(c.args for c in console.fake.of("chat.postMessage")
                  if c.args.get("channel") == dm and "Hello from the team" in str(c.args))
    assert "person on the team" in json.dumps(posted["blocks"]), "marked as from a person"

    console.fake.fail("chat.postMessage", 200, error="channel_not_found")
    await console.staff_says("Are you still there?", card["ts"])

    async def reported() -> bool:
        return any("could not be delivered" in t for t in console.thread(card["ts"]))
    await wait_for(reported)
    line = next(t for t in console.thread(card["ts"]) if "could not be delivered" in t)
    assert "Are you still there?" in line and "channel_not_found" in line


async def test_a_file_without_text_is_not_sent_and_staff_are_told(
    console: Console, inbound: Callable[..., InboundMessage],
) -> None:
    r = await console.runtime.ingest(inbound(text="person"))
    handoff = await console.announced(r.conversation_id)
    card_ts = handoff.console["slack_ts"]
    await console.staff_says("", card_ts, subtype="file_share",
                             files=[{"id": "F1", "name": "invoice.pdf"}])

    async def told() -> bool:
        return any("Files are not sent" in t for t in console.thread(card_ts))
    await wait_for(told)
    assert len(await console.outbound(r.conversation_id)) == 1


async def test_the_support_channel_is_never_a_bot_conversation(console: Console) -> None:
    await console.post(event_body(mention(new_ts(), channel=SUPPORT), event_id="EvS1"))
    await console.post(event_body(message(new_ts(), text="coffee?", channel=SUPPORT),
                                  event_id="EvS2"))
    async with console.runtime.db.as_system() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.messages WHERE channel = 'slack'"
                                 " AND external_id LIKE %s", (f"T1:{SUPPORT}:%",))
        row = await cur.fetchone()
    assert row == {"n": 0}
    assert not console.fake.of("chat.postMessage")


async def test_an_announcement_slack_refused_is_posted_by_the_next_sweep(
    console: Console, inbound: Callable[..., InboundMessage],
) -> None:
    rt = console.runtime
    console.fake.fail("chat.postMessage", 500, error="internal_error")
    r = await rt.ingest(inbound(text="person"))

    async def refused() -> bool:
        async with rt.db.as_system() as conn:
            cur = await conn.execute("SELECT announced_at FROM app.handoffs"
                                     " WHERE conversation_id = %s", (r.conversation_id,))
            row = await cur.fetchone()
        return bool(console.fake.of("chat.postMessage")) and row == {"announced_at": None}
    await wait_for(refused)
    handoff = await rt.handoffs.open_handoff(r.conversation_id)
    assert handoff is not None and handoff.console == {}
    await rt.handoffs.sweep()
    handoff = await rt.handoffs.open_handoff(r.conversation_id)
    assert handoff is not None
    assert handoff.console.get("slack_ts") in [c["ts"] for c in console.cards()]
