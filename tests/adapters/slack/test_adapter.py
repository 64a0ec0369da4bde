"""Slack end to end: signed requests through the ASGI app, a running worker, and the
real slack-sdk client talking to a fake Slack Web API on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapters.slack import SlackAdapter
from bot.app import create_app
from bot.models import Option, OutboundReply, QuickReplies
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from bot.runtime import Runtime
from testing.slack_api import FakeSlackApi, serve_fake_slack
from tests.adapters.slack.requests import (
    SIGNING_SECRET,
    action_body,
    event_body,
    mention,
    message,
    signed_headers,
)
from tests.conftest import RuntimeFactory, wait_for


class EchoResponder:
    """Answers with what it got, and offers two buttons."""

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        await emit("text_delta", {"text": "echo"})
        return OutboundReply(
            text=f"**echo** {turn.text} payload={turn.payload}",
            parts=[QuickReplies(options=[Option(title="Yes", payload="yes-1"),
                                         Option(title="No", payload="no-1")])])


@dataclass
class SlackWorld:
    fake: FakeSlackApi
    client: httpx.AsyncClient
    runtime: Runtime

    async def post_event(self, event: dict[str, Any], *, event_id: str,
                         retry: int | None = None) -> httpx.Response:
        body = event_body(event, event_id=event_id)
        headers = signed_headers(body)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.client.post("/slack/events", content=body, headers=headers)

    async def inbound_count(self, slack_channel: str = "") -> int:
        """Stored inbound Slack messages (of one Slack channel when given)."""
        async with self.runtime.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n, count(DISTINCT conversation_id) AS conversations"
                " FROM app.messages WHERE channel = 'slack' AND direction = 'in'"
                " AND external_id LIKE %s", (f"T1:{slack_channel}%",))
            row = await cur.fetchone()
        assert row is not None
        return int(row["n"])

    async def display_name(self, user: str) -> str | None:
        """The stored display name of a Slack user's contact."""
        async with self.runtime.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT c.display_name FROM app.contacts c JOIN app.channel_identities i"
                " ON i.contact_id = c.id WHERE i.channel = 'slack' AND i.external_id = %s",
                (f"T1:{user}",))
            row = await cur.fetchone()
        return None if row is None else row["display_name"]

    async def conversation_count(self, slack_channel: str) -> int:
        async with self.runtime.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM app.conversations WHERE channel = 'slack'"
                " AND (conversation_key = %s OR conversation_key LIKE %s)",
                (f"T1:{slack_channel.rstrip(':')}", f"T1:{slack_channel.rstrip(':')}:%"))
            row = await cur.fetchone()
        assert row is not None
        return int(row["n"])

    def posts(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        return [c.args for c in self.fake.of("chat.postMessage")
                if c.args.get("channel") == channel and c.args.get("thread_ts") == thread_ts]

    def updates_of(self, ts: str) -> list[dict[str, Any]]:
        return [c.args for c in self.fake.of("chat.update") if c.args.get("ts") == ts]

    async def updated(self, count: int) -> bool:
        """At least `count` answers have replaced their placeholders."""
        return sum("echo" in str(c.args.get("text")) for c in self.fake.of("chat.update")) >= count


@pytest.fixture
async def slack(runtime_factory: RuntimeFactory, make_settings: Any) -> AsyncIterator[SlackWorld]:
    async with serve_fake_slack() as fake:
        settings = make_settings(slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test",
                                 slack_api_base_url=fake.url, slack_post_interval_s=0.01)
        async with runtime_factory(settings=settings,
                                   router=Router(default=EchoResponder())) as rt:
            app = create_app(rt.settings, runtime=rt)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                         timeout=30) as client:
                yield SlackWorld(fake, client, rt)


def new_ts() -> str:
    return f"{time.time():.6f}"


async def test_url_verification_and_ssl_check(slack: SlackWorld) -> None:
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"})
    res = await slack.client.post("/slack/events", content=body, headers=signed_headers(body))
    assert res.status_code == 200 and "abc123" in res.text
    form = "ssl_check=1&token=x"
    res = await slack.client.post("/slack/events", content=form, headers=signed_headers(
        form, content_type="application/x-www-form-urlencoded"))
    assert res.status_code == 200


def _form_post(fields: dict[str, str]) -> tuple[str, dict[str, str]]:
    from urllib.parse import urlencode
    body = urlencode(fields)
    return body, signed_headers(body, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("payload", [
    # another app's button (or a link button) in a message the bot did not write
    {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T1"},
     "channel": {"id": "C1"}, "message": {"ts": "1700000000.000100", "text": "x"},
     "actions": [{"type": "button", "action_id": "approve", "block_id": "b",
                  "value": "1", "action_ts": "1700000001.0"}], "trigger_id": "t"},
    {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": "U1"},
     "view": {"id": "V1", "type": "modal", "callback_id": "feedback",
              "state": {"values": {}}}},
    {"type": "view_closed", "team": {"id": "T1"}, "user": {"id": "U1"},
     "view": {"id": "V1", "type": "modal", "callback_id": "feedback"}, "is_cleared": False},
    {"type": "shortcut", "team": {"id": "T1"}, "user": {"id": "U1"},
     "callback_id": "new_ticket", "trigger_id": "t"},
    {"type": "message_action", "team": {"id": "T1"}, "user": {"id": "U1"},
     "channel": {"id": "C1"}, "callback_id": "summarise", "trigger_id": "t",
     "message": {"ts": "1700000000.000100", "text": "x"}},
    {"type": "interactive_message", "team": {"id": "T1"}, "user": {"id": "U1"},
     "channel": {"id": "C1"}, "callback_id": "legacy", "actions": [
         {"name": "go", "type": "button", "value": "1"}], "action_ts": "1700000001.0"},
    {"type": "something_new", "team": {"id": "T1"}, "user": {"id": "U1"}},
], ids=lambda p: str(p["type"]))
async def test_interactions_the_bot_does_not_handle_are_acknowledged(
    slack: SlackWorld, payload: dict[str, Any],
) -> None:
    before = await slack.inbound_count()
    body, headers = _form_post({"payload": json.dumps(payload)})
    res = await slack.client.post("/slack/events", content=body, headers=headers)
    assert res.status_code == 200
    assert await slack.inbound_count() == before


async def test_options_requests_get_an_empty_list(slack: SlackWorld) -> None:
    payload = {"type": "block_suggestion", "team": {"id": "T1"}, "user": {"id": "U1"},
               "action_id": "pick_city", "block_id": "b", "value": "ber"}
    body, headers = _form_post({"payload": json.dumps(payload)})
    res = await slack.client.post("/slack/events", content=body, headers=headers)
    assert res.status_code == 200 and res.json() == {"options": []}


async def test_a_slash_command_gets_a_polite_answer(slack: SlackWorld) -> None:
    body, headers = _form_post({
        "token": "legacy", "team_id": "T1", "team_domain": "t", "channel_id": "C1",
        "channel_name": "general", "user_id": "U1", "user_name": "alice",
        "command": "/weather", "text": "berlin", "api_app_id": "A1",
        "response_url": "https://hooks.slack.com/commands/T1/1/x", "trigger_id": "t"})
    res = await slack.client.post("/slack/events", content=body, headers=headers)
    assert res.status_code == 200
    assert "/weather" in res.text  # shown only to the person who ran it


@pytest.mark.parametrize("tamper", ["bad_signature", "stale_timestamp", "missing"])
async def test_unverified_requests_are_refused_and_store_nothing(
    slack: SlackWorld, tamper: str,
) -> None:
    body = event_body(mention(new_ts()), event_id="Ev-bad-" + tamper)
    if tamper == "bad_signature":
        headers = signed_headers(body, secret="not-the-secret")
    elif tamper == "stale_timestamp":
        headers = signed_headers(body, timestamp=int(time.time()) - 301)
    else:
        headers = {"Content-Type": "application/json"}
    before = await slack.inbound_count()
    res = await slack.client.post("/slack/events", content=body, headers=headers)
    assert res.status_code in (401, 403)
    assert await slack.inbound_count() == before
    assert not slack.fake.of("chat.postMessage")


async def test_mention_gets_one_threaded_reply_even_when_slack_retries(slack: SlackWorld) -> None:
    ts = new_ts()
    # a person of their own: other tests of the run write as U1 into the shared database
    slack.fake.users["UMENTION1"] = "Alice"
    event = mention(ts, text="<@UBOT> what's up?", user="UMENTION1")
    assert (await slack.post_event(event, event_id="Ev1")).status_code == 200
    # the same message also arrives as message.channels, and Slack retries the mention
    assert (await slack.post_event(message(ts, text="<@UBOT> what's up?", user="UMENTION1"),
                                   event_id="Ev2")).status_code == 200
    for retry in (1, 2):
        assert (await slack.post_event(event, event_id="Ev1", retry=retry)).status_code == 200

    await wait_for(lambda: slack.updated(1))
    # a follow-up in the thread, without a mention, continues the conversation; once it
    # is answered, any work the duplicates could have caused has run too (one drain at a time)
    follow = new_ts()
    await slack.post_event(message(follow, text="and more", thread_ts=ts, user="UMENTION1"),
                           event_id="Ev3")
    await wait_for(lambda: slack.updated(2))
    placeholders = slack.posts("C1", ts)
    assert len(placeholders) == 2, "one placeholder per user message, no more"
    assert all(p["text"] == slack.runtime.settings.slack_placeholder_text for p in placeholders)
    updates = slack.fake.of("chat.update")
    assert len(updates) == 2
    assert [u.args["ts"] for u in updates] == [
        c.result["ts"] for c in slack.fake.of("chat.postMessage")], "placeholders replaced"
    assert "what's up?" in updates[0].args["text"] and "and more" in updates[1].args["text"]
    # this test's two messages (other tests of the run also write to channel C1)
    assert await slack.inbound_count(f"C1:{ts}") + await slack.inbound_count(f"C1:{follow}") == 2
    blocks = updates[0].args["blocks"]
    assert blocks[0]["text"]["text"].startswith("*echo* what")
    assert [e["value"] for e in blocks[1]["elements"]] == ["yes-1", "no-1"]

    async def named() -> bool:  # looked up after the acknowledgement, not before it
        return await slack.display_name("UMENTION1") == "Alice"
    await wait_for(named)
    assert len(slack.fake.of("users.info")) == 1, "the display name is looked up once"


async def test_a_new_users_name_is_looked_up_after_the_acknowledgement(
        slack: SlackWorld) -> None:
    slack.fake.held["users.info"] = released = asyncio.Event()
    # If the acknowledgement waited for users.info, this would not return.
    response = await asyncio.wait_for(slack.post_event(
        message(new_ts(), text="hi from Bob", channel="D8", channel_type="im", user="U2"),
        event_id="EvN1"), timeout=10)
    assert response.status_code == 200
    await wait_for(lambda: slack.updated(1))  # answered without the name, too
    released.set()

    async def named() -> bool:
        return await slack.display_name("U2") == "Bob"
    await wait_for(named)


async def test_new_users_names_are_looked_up_a_few_at_a_time(slack: SlackWorld) -> None:
    """A burst of first messages must not spend the pool on users.info lookups."""
    people = {f"U7{n}": f"Person {n}" for n in range(6)}
    slack.fake.users.update(people)
    slack.fake.held["users.info"] = released = asyncio.Event()
    bound = slack.runtime.settings.slack_user_lookup_concurrency
    try:
        for n, user in enumerate(people):
            response = await slack.post_event(
                message(new_ts(), text="hello", channel=f"D7{n}", channel_type="im", user=user),
                event_id=f"EvBurst{n}")
            assert response.status_code == 200
        await wait_for(lambda: _true(len(slack.fake.of("users.info")) >= bound))
        await asyncio.sleep(0.3)  # room for any lookup beyond the bound to show up
        assert len(slack.fake.of("users.info")) == bound
    finally:
        released.set()

    async def all_named() -> bool:
        return all([await slack.display_name(u) == name for u, name in people.items()])
    await wait_for(all_named)
    assert len(slack.fake.of("users.info")) == len(people)


async def _true(value: bool) -> bool:
    return value


async def test_a_dm_is_its_own_conversation_answered_in_the_dm(slack: SlackWorld) -> None:
    first, second = new_ts(), new_ts()
    await slack.post_event(message(first, text="hi in private", channel="D7",
                                   channel_type="im"), event_id="EvD1")
    await wait_for(lambda: slack.updated(1))
    await slack.post_event(message(second, text="again", channel="D7", channel_type="im"),
                           event_id="EvD2")
    await wait_for(lambda: slack.updated(2))
    assert len(slack.posts("D7", None)) == 2, "top-level in the DM, no thread"
    assert await slack.conversation_count("D7") == 1
    assert await slack.inbound_count("D7:") == 2


async def test_a_button_click_is_a_new_turn_with_the_payload(slack: SlackWorld) -> None:
    ts = new_ts()
    await slack.post_event(mention(ts), event_id="EvB1")
    await wait_for(lambda: slack.updated(1))
    answer = slack.fake.of("chat.update")[0].args
    body = action_body(message_ts=answer["ts"], value="yes-1", title="Yes", thread_ts=ts,
                       blocks=answer["blocks"])
    res = await slack.client.post("/slack/events", content=body, headers=signed_headers(
        body, content_type="application/x-www-form-urlencoded"))
    assert res.status_code == 200
    await wait_for(lambda: slack.updated(2))
    reply = [c.args for c in slack.fake.of("chat.update") if "payload=yes-1" in c.args["text"]]
    assert reply and "Yes" in reply[0]["text"]
    assert len(slack.posts("C1", ts)) == 2, "the second turn is in the same thread"

    async def marked() -> bool:
        return any(c.args["ts"] == answer["ts"] and "chose" in json.dumps(c.args["blocks"])
                   for c in slack.fake.of("chat.update"))
    await wait_for(marked)
    chosen = next(c.args for c in slack.fake.of("chat.update")
                  if c.args["ts"] == answer["ts"] and "chose" in json.dumps(c.args["blocks"]))
    assert not [b for b in chosen["blocks"] if b["type"] == "actions"]


@pytest.mark.parametrize("event", [
    message("1700000001.000001", text="not for the bot"),
    message("1700000001.000002", text="reply in a thread the bot is not in",
            thread_ts="1600000000.000001"),
    message("1700000001.000003", subtype="message_changed"),
    message("1700000001.000004", subtype="channel_join"),
    message("1700000001.000005", text="from another bot", bot_id="B999"),
    message("1700000001.000006", user="UBOT", bot_id="BBOT", channel_type="im",
            channel="D1"),
    {"type": "reaction_added", "user": "U1", "reaction": "thumbsup", "ts": "1700000001.000007",
     "item": {"type": "message", "channel": "C1", "ts": "1.0"}, "event_ts": "1700000001.000007"},
], ids=["channel-chatter", "foreign-thread", "edit", "join", "other-bot", "own-message",
        "unhandled-event-type"])
async def test_ignored_events_store_nothing(slack: SlackWorld, event: dict[str, Any]) -> None:
    before = await slack.inbound_count()
    res = await slack.post_event(event, event_id="EvI-" + event["ts"])
    assert res.status_code == 200
    assert await slack.inbound_count() == before


async def test_another_person_in_the_thread_is_answered_in_the_same_thread(
    slack: SlackWorld,
) -> None:
    ts = new_ts()
    await slack.post_event(mention(ts, channel="C5"), event_id="EvM1")
    await wait_for(lambda: slack.updated(1))
    await slack.post_event(message(new_ts(), text="me too", user="U2", channel="C5",
                                   thread_ts=ts), event_id="EvM2")
    await wait_for(lambda: slack.updated(2))
    assert len(slack.posts("C5", ts)) == 2
    # each person's part of the thread is their own conversation (their rows, under RLS)
    assert await slack.conversation_count("C5:") == 2


async def test_socket_mode_receives_events_without_a_public_url(
    runtime_factory: RuntimeFactory, make_settings: Any,
) -> None:
    async with serve_fake_slack() as fake:
        settings = make_settings(slack_socket_mode=True, slack_app_token="xapp-test",
                                 slack_bot_token="xoxb-test", slack_api_base_url=fake.url,
                                 slack_post_interval_s=0.0)
        async with runtime_factory(settings=settings,
                                   router=Router(default=EchoResponder())) as rt:
            adapter = rt.adapters["slack"]
            assert isinstance(adapter, SlackAdapter)
            app = create_app(rt.settings, runtime=rt)
            assert not [r for r in app.routes if getattr(r, "path", "") == "/slack/events"], \
                "no HTTP endpoint without a signing secret"
            async with adapter.socket_mode():
                ts = new_ts()
                envelope = json.loads(event_body(mention(ts, channel="C8"), event_id="EvS1"))
                await fake.socket_outbox.put({"envelope_id": "env-1", "type": "events_api",
                                              "accepts_response_payload": False,
                                              "payload": envelope})

                async def answered() -> bool:
                    return any("echo" in str(c.args.get("text"))
                               for c in fake.of("chat.update"))
                await wait_for(answered)
            assert {"envelope_id": "env-1"}.items() <= fake.socket_acks[0].items()
            assert fake.of("apps.connections.open")[0].token == "xapp-test"
