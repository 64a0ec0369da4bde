"""Real platform traffic as a regression corpus (bodies and their sources: SOURCES.md).

Each body is signed as the platform signs it and posted twice through the app's HTTP
stack, with Slack and WhatsApp both configured and the real SDKs talking to the loopback
fakes. Ids and timestamps are refreshed so that every body is new to the shared test
database; nothing else is changed. What each body must give is in its `expect`:

- answered: 200; stored once with `stored_text`; answered once (one reply, sent).
- status (Twilio): 200 on the incoming URL and on the status URL; the reply's row takes
  the status; no customer message is stored for it.
- ignored, acknowledged, ok: 200, nothing stored. challenge: the challenge echoed.
- command_reply: 200 with a polite text, nothing stored.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.app import create_app
from bot.db.pool import Database
from bot.models import OutboundReply
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from bot.runtime import Runtime
from bot.settings import Settings
from testing.slack_api import FakeSlackApi, serve_fake_slack
from testing.twilio_api import FakeTwilio
from tests.adapters.slack.requests import SIGNING_SECRET, signed_headers
from tests.adapters.whatsapp.fixtures import (
    ACCOUNT_SID,
    PUBLIC,
    SENDER,
    fake_twilio,
    new_wa_id,
    sign,
    whatsapp_settings,
)
from tests.conftest import RuntimeFactory, wait_for

__all__ = ["fake_twilio", "whatsapp_settings"]  # fixtures of the WhatsApp tests

HERE = Path(__file__).parent
SLACK = sorted((HERE / "slack").glob("*.json"))
TWILIO = sorted((HERE / "twilio").glob("*.json"))
# the card served for a shared contact's media URL (as WhatsApp shares one: vCard 3.0)
CONTACT_CARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lima;Ana;;;\r\nFN:Ana Lima\r\n"
                b"item1.TEL;waid=5511912345678:+55 11 91234-5678\r\nEND:VCARD\r\n")
_TS = re.compile(r"^\d{10}\.\d{6}$")
_counter = itertools.count(1)


class Echo:
    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text=f"echo: {turn.text}")


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text("utf-8")))


def deep_replace(value: Any, swap: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {k: deep_replace(v, swap) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_replace(v, swap) for v in value]
    return swap(value) if isinstance(value, str) else value


def refreshed_slack(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The body with a team of its own, fresh message timestamps and event id."""
    team = str(body.get("team_id") or (body.get("team") or {}).get("id") or "")
    new_team = f"TC{secrets.token_hex(5).upper()}"
    stamps: dict[str, str] = {}

    def swap(text: str) -> str:
        if team and text == team:
            return new_team
        if _TS.match(text):
            if text not in stamps:
                stamps[text] = f"{int(time.time()) - 60}.{next(_counter):06d}"
            return stamps[text]
        return text
    fresh = deep_replace(body, swap)
    if "event_id" in fresh:
        fresh["event_id"] = f"Ev{secrets.token_hex(6).upper()}"
        fresh["event_time"] = int(time.time())
    return fresh, new_team


@dataclass
class World:
    runtime: Runtime
    client: httpx.AsyncClient
    slack: FakeSlackApi
    twilio: FakeTwilio

    @property
    def db(self) -> Database:
        return self.runtime.db

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self.db.as_system() as conn:
            return list(await (await conn.execute(sql, args)).fetchall())

    async def post_twilio(self, form: dict[str, str], path: str) -> httpx.Response:
        headers = {"X-Twilio-Signature": sign(f"{PUBLIC}{path}", form)}
        return await self.client.post(path, data=form, headers=headers)


@pytest.fixture
async def world(runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
                fake_twilio: FakeTwilio) -> AsyncIterator[World]:
    async with serve_fake_slack() as slack:
        settings = whatsapp_settings(
            slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test",
            slack_api_base_url=slack.url, slack_post_interval_s=0.0)
        async with runtime_factory(settings=settings, router=Router(Echo())) as rt:
            transport = httpx.ASGITransport(app=create_app(rt.settings, runtime=rt),
                                            client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://internal:8000",
                                         timeout=30) as client:
                yield World(rt, client, slack, fake_twilio)


# --- Slack

def slack_request(case: dict[str, Any], body: dict[str, Any]) -> tuple[str, str]:
    if case["transport"] == "json":
        return json.dumps(body), "application/json"
    if case["transport"] == "payload":
        return urlencode({"payload": json.dumps(body)}), "application/x-www-form-urlencoded"
    return urlencode(body), "application/x-www-form-urlencoded"


@pytest.mark.parametrize("path", SLACK, ids=lambda p: p.stem)
async def test_slack_body(world: World, path: Path) -> None:
    case = load(path)
    body, team = refreshed_slack(case["body"])
    content, kind = slack_request(case, body)
    answers = []
    for _ in range(2):  # Slack retries what it thinks was not acknowledged
        answers.append(await world.client.post(
            "/slack/events", content=content, headers=signed_headers(content, content_type=kind)))
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    expect = case["expect"]
    if expect == "challenge":
        assert body["challenge"] in answers[0].text
    if expect == "command_reply":
        assert "Sorry" in answers[0].text and body["command"] in answers[0].text
    stored = await world.rows(
        "SELECT id, text, conversation_id FROM app.messages WHERE channel = 'slack'"
        " AND direction = 'in' AND external_id LIKE %s", f"{team}:%")
    if expect != "answered":
        assert stored == [], f"{expect}: nothing stored"
        return
    assert len(stored) == 1, "stored once"
    assert stored[0]["text"] == case["stored_text"]
    await answered_once(world, stored[0])


async def answered_once(world: World, message: dict[str, Any]) -> None:
    async def sent() -> bool:
        rows = await world.rows("SELECT status FROM app.messages WHERE conversation_id = %s"
                                " AND direction = 'out'", message["conversation_id"])
        return bool(rows) and all(r["status"] == "sent" for r in rows)
    await wait_for(sent)
    (state,) = await world.rows("SELECT status FROM app.messages WHERE id = %s", message["id"])
    assert state["status"] == "answered"
    replies = await world.rows("SELECT id FROM app.messages WHERE conversation_id = %s"
                               " AND direction = 'out'", message["conversation_id"])
    assert len(replies) == 1, "answered once"


# --- Twilio

def refreshed_twilio(form: dict[str, str], wa_id: str,
                     sids: dict[str, str] | None = None) -> dict[str, str]:
    """Our account and number, a new customer and new SIDs; the rest as recorded."""
    sids = {} if sids is None else sids
    customer = f"whatsapp:+{wa_id}"
    fresh: dict[str, str] = {}
    for key, value in form.items():
        if key == "AccountSid":
            value = ACCOUNT_SID
        elif key in ("WaId",):
            value = wa_id
        elif key in ("MessageSid", "SmsSid", "SmsMessageSid"):
            value = sids.setdefault(value, value[:2] + secrets.token_hex(16))
        elif key.startswith("MediaUrl"):
            value = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
                     f"MM{secrets.token_hex(16)}/Media/ME{secrets.token_hex(16)}")
        fresh[key] = value
    is_status = form.get("From") == "whatsapp:+14155238886" or "MessageStatus" in form
    fresh["From"], fresh["To"] = (SENDER, customer) if is_status else (customer, SENDER)
    return fresh


@pytest.mark.parametrize("path", [p for p in TWILIO if load(p)["expect"] == "answered"],
                         ids=lambda p: p.stem)
async def test_twilio_message(world: World, path: Path) -> None:
    case = load(path)
    wa_id = new_wa_id()
    form = refreshed_twilio(case["form"], wa_id)
    for n in range(int(form.get("NumMedia") or 0)):
        if form.get(f"MediaContentType{n}") == "text/vcard":
            world.twilio.media_files[form[f"MediaUrl{n}"].rsplit("/", 1)[-1]] = (
                CONTACT_CARD, "text/vcard")
    for _ in range(2):  # Twilio retries a webhook it did not see answered
        answer = await world.post_twilio(form, "/webhooks/whatsapp")
        assert answer.status_code == 200 and "<Response/>" in answer.text
    stored = await world.rows(
        "SELECT id, text, conversation_id FROM app.messages WHERE channel = 'whatsapp'"
        " AND direction = 'in' AND external_id = %s", form["MessageSid"])
    assert len(stored) == 1, "stored once"
    assert stored[0]["text"] == case["stored_text"]
    await answered_once(world, stored[0])
    sent = [r.field("Body") for r in world.twilio.sent() if r.field("To") == f"whatsapp:+{wa_id}"]
    assert len(sent) == 1
    if case.get("bot_reads"):
        assert sent[0] == f"echo: {case['bot_reads']}"


@pytest.mark.parametrize("path", [p for p in TWILIO if load(p)["expect"] == "status"],
                         ids=lambda p: p.stem)
async def test_twilio_status(world: World, path: Path) -> None:
    case = load(path)
    wa_id = new_wa_id()
    # a reply to report on: the customer writes, the bot answers
    hello = refreshed_twilio(load(TWILIO[0])["form"], wa_id)
    await world.post_twilio(hello, "/webhooks/whatsapp")
    (message,) = await world.rows("SELECT id, conversation_id FROM app.messages"
                                  " WHERE external_id = %s", hello["MessageSid"])
    await answered_once(world, message)
    (reply,) = await world.rows("SELECT id, external_id FROM app.messages WHERE"
                                " conversation_id = %s AND direction = 'out'",
                                message["conversation_id"])
    recorded = case["form"]
    form = refreshed_twilio(recorded, wa_id, {recorded["MessageSid"]: reply["external_id"]})
    for path_ in ("/webhooks/whatsapp", "/webhooks/whatsapp", "/webhooks/whatsapp/status",
                  f"/webhooks/whatsapp/status?m={reply['id']}"):
        answer = await world.post_twilio(form, path_)
        assert answer.status_code == 200, path_
    (row,) = await world.rows("SELECT status, error FROM app.messages WHERE id = %s", reply["id"])
    status = recorded.get("MessageStatus") or recorded["SmsStatus"]
    assert row["status"] == status
    if recorded.get("ErrorCode"):
        assert row["error"].startswith(f"twilio {recorded['ErrorCode']}:")
    inbound = await world.rows("SELECT count(*) AS n FROM app.messages WHERE"
                               " conversation_id = %s AND direction = 'in'",
                               message["conversation_id"])
    assert inbound[0]["n"] == 1, "a status is never a customer's message"
    strangers = await world.rows("SELECT count(*) AS n FROM app.channel_identities WHERE"
                                 " channel = 'whatsapp' AND external_id LIKE %s", "%14155238886")
    assert strangers[0]["n"] == 0
