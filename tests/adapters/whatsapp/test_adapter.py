"""The WhatsApp channel end to end: signed webhooks in, replies out to a fake Twilio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot.db.pool import Database
from bot.models import Option, OutboundReply, QuickReplies
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from bot.settings import Settings
from testing.twilio_api import FakeTwilio
from tests.adapters.whatsapp.fixtures import (
    PUBLIC,
    SENDER,
    new_wa_id,
    sign,
    webhook_form,
    webhooks_for,
)
from tests.conftest import RuntimeFactory, wait_for


class Echo:
    """Answers with the turn's text and remembers every turn."""

    def __init__(self) -> None:
        self.turns: list[TurnContext] = []

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        self.turns.append(turn)
        return OutboundReply(text=f"echo: {turn.text}")


async def inbound_rows(db: Database, external_id: str) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT * FROM app.messages WHERE channel = 'whatsapp'"
                                 " AND direction = 'in' AND external_id = %s", (external_id,))
        return list(await cur.fetchall())


async def outbound_rows(db: Database, wa_id: str) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT o.* FROM app.messages o JOIN app.conversations c ON c.id = o.conversation_id"
            " WHERE c.channel = 'whatsapp' AND c.conversation_key = %s AND o.direction = 'out'"
            " ORDER BY o.id", (wa_id,))
        return list(await cur.fetchall())


async def turns_of(echo: Echo, db: Database, wa_id: str) -> list[TurnContext]:
    """The turns of one chat (a runtime's worker also answers chats other tests left)."""
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT id FROM app.conversations WHERE channel = 'whatsapp'"
                                 " AND conversation_key = %s", (wa_id,))
        row = await cur.fetchone()
    return [t for t in echo.turns if row and t.conversation_id == row["id"]]


def sent_to(fake: FakeTwilio, wa_id: str) -> list[str]:
    return [r.field("Body") or "" for r in fake.sent() if r.field("To") == f"whatsapp:+{wa_id}"]


async def test_new_contact_gets_one_reply_and_a_twilio_retry_gets_none(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    echo = Echo()
    wa_id = new_wa_id()
    form = webhook_form(wa_id, "Hi **there**")
    async with runtime_factory(settings=whatsapp_settings(), router=Router(echo)) as rt, \
            webhooks_for(rt) as hooks:
        response = await hooks.post(form)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert response.text.endswith("<Response/>")
        (row,) = await inbound_rows(db, form["MessageSid"])
        assert row["text"] == "Hi **there**"

        async def replied() -> bool:
            return len(sent_to(fake_twilio, wa_id)) >= 1
        await wait_for(replied)
        again = await hooks.post(form)  # Twilio retries on a timeout
        assert again.status_code == 200
        await asyncio.sleep(0.5)  # room for a wrong second turn to show up
    assert sent_to(fake_twilio, wa_id) == ["echo: Hi *there*"]  # Markdown rendered
    assert len(await inbound_rows(db, form["MessageSid"])) == 1
    (request,) = [r for r in fake_twilio.sent() if r.field("To") == f"whatsapp:+{wa_id}"]
    (out,) = await outbound_rows(db, wa_id)
    assert request.field("From") == SENDER
    assert request.field("StatusCallback") == f"{PUBLIC}/webhooks/whatsapp/status?m={out['id']}"
    assert out["status"] == "sent" and out["external_id"].startswith("SM")
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT display_name, last_inbound_at FROM app.contacts"
                                 " WHERE id = %s", (row["contact_id"],))
        contact = await cur.fetchone()
    assert contact is not None and contact["display_name"] == "Ana"
    assert contact["last_inbound_at"] is not None


@pytest.mark.parametrize("signature", ["", "bm90IHRoZSByaWdodCBvbmU="])
async def test_missing_or_wrong_signature_is_refused_and_nothing_stored(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    db: Database, signature: str,
) -> None:
    form = webhook_form(new_wa_id(), "secret body text")
    async with runtime_factory(settings=whatsapp_settings(), worker=False) as rt, \
            webhooks_for(rt) as hooks:
        with capture_logs() as logs:
            response = await hooks.post(form, signature=signature)
            # signed for another body: also wrong
            tampered = await hooks.post(form | {"Body": "changed"}, signature=sign(
                f"{PUBLIC}/webhooks/whatsapp", form))
    assert response.status_code == 403 and tampered.status_code == 403
    assert await inbound_rows(db, form["MessageSid"]) == []
    rejected = [entry for entry in logs if entry["event"] == "whatsapp_webhook_rejected"]
    assert len(rejected) == 2 and rejected[0]["log_level"] == "warning"
    assert "secret body text" not in repr(logs) and "changed" not in repr(logs)


@pytest.mark.parametrize("signed_url", [f"{PUBLIC}/webhooks/whatsapp",
                                        f"{PUBLIC}:443/webhooks/whatsapp"],
                         ids=["as-configured", "with-the-port"])
async def test_a_signature_over_the_url_with_or_without_its_port_is_accepted(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    db: Database, signed_url: str,
) -> None:
    # The configured URL is checked first (one HMAC); Twilio also signs with the port
    # spelled out, which only the validator's own check (with and without it) accepts.
    form = webhook_form(new_wa_id())
    async with runtime_factory(settings=whatsapp_settings(), worker=False) as rt, \
            webhooks_for(rt) as hooks:
        response = await hooks.post(form, signed_url=signed_url)
        wrong = await hooks.post(webhook_form(new_wa_id()),
                                 signed_url=f"{PUBLIC}:8443/webhooks/whatsapp")
    assert response.status_code == 200
    assert len(await inbound_rows(db, form["MessageSid"])) == 1
    assert wrong.status_code == 403


@pytest.mark.parametrize(("trusted", "expected"), [(["127.0.0.1"], 200), ([], 403)])
async def test_behind_a_tls_proxy_forwarded_headers_count_only_when_trusted(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    trusted: list[str], expected: int,
) -> None:
    settings = whatsapp_settings(public_base_url=None, trusted_proxies=trusted)
    form = webhook_form(new_wa_id())
    async with runtime_factory(settings=settings, worker=False) as rt, webhooks_for(rt) as hooks:
        response = await hooks.post(
            form, signed_url="https://public.example.org/webhooks/whatsapp",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.org"})
        direct = await hooks.post(webhook_form(new_wa_id()),
                                  signed_url="http://internal:8000/webhooks/whatsapp")
    assert response.status_code == expected
    assert direct.status_code == 200, "without proxy headers the URL seen is the one signed"


async def test_malformed_webhooks_get_4xx_not_5xx(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
) -> None:
    settings = whatsapp_settings(whatsapp_max_form_bytes=2048)
    async with runtime_factory(settings=settings, worker=False) as rt, \
            webhooks_for(rt) as hooks:
        client = hooks.client
        url = f"{PUBLIC}/webhooks/whatsapp"
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": sign(url, {})}
        bad_utf8 = await client.post("/webhooks/whatsapp", content=b"Body=%FF%FE&From=x",
                                     headers=headers)
        raw_bytes = await client.post("/webhooks/whatsapp", content=b"Body=\xff", headers=headers)
        repeated = await client.post("/webhooks/whatsapp", content=b"Body=a&Body=b",
                                     headers=headers)
        huge = await client.post("/webhooks/whatsapp", content=b"Body=" + b"a" * 4096,
                                 headers=headers)
        not_a_message = await hooks.post({"AccountSid": "AC1", "Body": "x"})
    assert [r.status_code for r in (bad_utf8, raw_bytes, repeated, huge, not_a_message)] == [
        400, 400, 400, 413, 400]


async def test_a_burst_of_three_messages_is_answered_as_one_turn(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    echo = Echo()
    wa_id = new_wa_id()
    settings = whatsapp_settings(whatsapp_burst_window_s=2.0, whatsapp_burst_max_wait_s=10.0)
    async with runtime_factory(settings=settings, router=Router(echo)) as rt, \
            webhooks_for(rt) as hooks:
        for text in ("hi", "I need help", "with my order"):
            assert (await hooks.post(webhook_form(wa_id, text))).status_code == 200

        async def replied() -> bool:
            return len(sent_to(fake_twilio, wa_id)) >= 1
        await wait_for(replied)
        await asyncio.sleep(1.5)  # room for a wrong second turn to show up
    (turn,) = await turns_of(echo, db, wa_id)
    assert len(turn.message_ids) == 3
    assert sent_to(fake_twilio, wa_id) == ["echo: hi\nI need help\nwith my order"]


async def test_media_only_message_reads_as_a_description(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    echo = Echo()
    wa_id = new_wa_id()
    form = webhook_form(wa_id, "", NumMedia="1", MediaContentType0="image/jpeg",
                        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/"
                                  "MM1/Media/ME1")
    async with runtime_factory(settings=whatsapp_settings(), router=Router(echo)) as rt, \
            webhooks_for(rt) as hooks:
        await hooks.post(form)

        async def replied() -> bool:
            return len(sent_to(fake_twilio, wa_id)) == 1
        await wait_for(replied)
    (turn,) = await turns_of(echo, db, wa_id)
    assert turn.text == "[image: image/jpeg]"
    assert sent_to(fake_twilio, wa_id) == ["echo: [image: image/jpeg]"]


class MenuEveryTime:
    """Offers the same menu with every answer and records the payload each turn carried."""

    def __init__(self) -> None:
        self.payloads: dict[str, str | None] = {}

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        self.payloads[turn.text] = turn.payload
        return OutboundReply(text=f"picked {turn.payload}", parts=[QuickReplies(options=[
            Option(title="Track order", payload="track"),
            Option(title="Talk to a person", payload="human")])])


async def test_a_number_or_title_reply_picks_the_option_of_the_text_menu(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    bot = MenuEveryTime()
    wa_id = new_wa_id()
    async with runtime_factory(settings=whatsapp_settings(), router=Router(bot)) as rt, \
            webhooks_for(rt) as hooks:
        for turn, text in enumerate(("menu please", "2", "track ORDER", "3"), start=1):
            await hooks.post(webhook_form(wa_id, text))

            async def answered(n: int = 2 * turn) -> bool:
                return len(sent_to(fake_twilio, wa_id)) >= n
            await wait_for(answered)
    bodies = sent_to(fake_twilio, wa_id)
    assert bodies[1] == ("1. Track order\n2. Talk to a person\n"
                         "Reply with the number of your choice.")
    assert bodies[0::2] == ["picked None", "picked human", "picked track", "picked None"]
    assert bot.payloads == {"menu please": None, "2": "human", "track ORDER": "track", "3": None}


async def test_stop_confirms_once_silences_the_bot_until_start(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    echo = Echo()
    wa_id = new_wa_id()
    settings = whatsapp_settings()
    async with runtime_factory(settings=settings, router=Router(echo)) as rt, \
            webhooks_for(rt) as hooks:
        async def settled(form: dict[str, str]) -> None:
            async def done() -> bool:
                rows = await inbound_rows(db, form["MessageSid"])
                return bool(rows) and rows[0]["status"] != "received" and all(
                    r["status"] not in ("pending", "sending")
                    for r in await outbound_rows(db, wa_id))
            await wait_for(done)

        for text in ("hi", "Stop", "are you there?", "STOP", "start", "back again"):
            form = webhook_form(wa_id, text)
            await hooks.post(form)
            await settled(form)
    assert sent_to(fake_twilio, wa_id) == [
        "echo: hi", settings.whatsapp_opt_out_reply, settings.whatsapp_opt_in_reply,
        "echo: back again"]
    assert [t.text for t in await turns_of(echo, db, wa_id)] == ["hi", "back again"]


async def sent_reply(hooks: Any, db: Database, wa_id: str) -> dict[str, Any]:
    """The customer says "hi"; the bot's reply row once Twilio accepted it."""
    await hooks.post(webhook_form(wa_id, "hi"))

    async def replied() -> bool:
        rows = await outbound_rows(db, wa_id)
        return bool(rows) and rows[0]["status"] == "sent"
    await wait_for(replied)
    (out,) = await outbound_rows(db, wa_id)
    return out


async def test_status_callbacks_update_the_reply_row(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    wa_id = new_wa_id()
    async with runtime_factory(settings=whatsapp_settings(), router=Router(Echo())) as rt, \
            webhooks_for(rt) as hooks:
        out = await sent_reply(hooks, db, wa_id)
        path = f"/webhooks/whatsapp/status?m={out['id']}"

        def callback(status: str, **extra: str) -> dict[str, str]:
            return {"MessageSid": out["external_id"], "MessageStatus": status,
                    "SmsStatus": status, "AccountSid": "AC", "To": f"whatsapp:+{wa_id}",
                    "ChannelPrefix": "whatsapp", **extra}

        async def status() -> tuple[str, str | None]:
            (row,) = await outbound_rows(db, wa_id)
            return row["status"], row["error"]

        unsigned = await hooks.post(callback("read"), path=path, signature="")
        assert unsigned.status_code == 403 and (await status())[0] == "sent"
        assert (await hooks.post(callback("delivered"), path=path)).status_code == 200
        assert await status() == ("delivered", None)
        await hooks.post(callback("sent"), path=path)  # late, out of order
        assert (await status())[0] == "delivered"
        await hooks.post(callback("read"), path="/webhooks/whatsapp/status")  # by SID only
        assert (await status())[0] == "read"
        await hooks.post(callback("undelivered", ErrorCode="63024",
                                  ErrorMessage="Invalid recipient"), path=path)
        assert await status() == ("undelivered", "twilio 63024: Invalid recipient")
        await hooks.post(callback("delivered"), path=path)
        assert (await status())[0] == "undelivered", "final statuses stay"


async def test_a_status_callback_posted_to_the_incoming_url_is_a_status_not_a_message(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    wa_id = new_wa_id()
    async with runtime_factory(settings=whatsapp_settings(), router=Router(Echo())) as rt, \
            webhooks_for(rt) as hooks:
        out = await sent_reply(hooks, db, wa_id)
        # what Twilio posts for a reply's status, sent to the incoming URL by mistake
        form = {"MessageSid": out["external_id"], "SmsSid": out["external_id"],
                "MessageStatus": "delivered", "SmsStatus": "delivered",
                "AccountSid": "AC", "From": SENDER, "To": f"whatsapp:+{wa_id}",
                "ChannelPrefix": "whatsapp", "ApiVersion": "2010-04-01"}
        for _ in range(2):
            answer = await hooks.post(form)
            assert answer.status_code == 200 and "<Response/>" in answer.text
        (row,) = await outbound_rows(db, wa_id)
        assert row["status"] == "delivered"
        # a report of a failure, without MessageStatus, from the bot's own number
        failed = {"SmsSid": out["external_id"], "SmsStatus": "undelivered", "From": SENDER,
                  "To": f"whatsapp:+{wa_id}", "ErrorCode": "63024", "AccountSid": "AC"}
        assert (await hooks.post(failed)).status_code == 200
        async with db.as_system() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM app.channel_identities"
                " WHERE channel = 'whatsapp' AND external_id = ANY(%s)",
                ([SENDER, SENDER.removeprefix("whatsapp:+"), SENDER.removeprefix("whatsapp:")],))
            assert (await cur.fetchone())["n"] == 0  # type: ignore[index]
        (row,) = await outbound_rows(db, wa_id)
        assert row["status"] == "undelivered"
        assert row["error"] == "twilio 63024: undelivered"


class Slow:
    """Takes its time, so the typing indicator shows."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        async def typing_shown() -> bool:
            return bool(self.fake.of_kind("typing"))
        await wait_for(typing_shown, timeout=10)
        return OutboundReply(text="done thinking")


@pytest.mark.parametrize("typing_fails", [False, True])
async def test_typing_indicator_during_a_long_turn(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, typing_fails: bool,
) -> None:
    if typing_fails:
        fake_twilio.fail_next("typing", 400, code=21211, message="beta not enabled")
    wa_id = new_wa_id()
    form = webhook_form(wa_id, "think hard")
    settings = whatsapp_settings(whatsapp_typing_after_s=0.05)
    async with runtime_factory(settings=settings, router=Router(Slow(fake_twilio))) as rt, \
            webhooks_for(rt) as hooks:
        await hooks.post(form)

        async def replied() -> bool:
            return sent_to(fake_twilio, wa_id) == ["done thinking"]
        await wait_for(replied)
    (typing,) = fake_twilio.of_kind("typing")
    assert typing.field("messageId") == form["MessageSid"] and typing.field("channel") == "whatsapp"
