"""Sending replies through the real twilio SDK to the fake Twilio API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from adapters.whatsapp import WhatsAppAdapter
from adapters.whatsapp.client import (
    RetryAfterOrBackoff,
    TwilioTransientError,
    parse_retry_after,
    rewrite_url,
)
from adapters.whatsapp.inbound import to_inbound
from bot.db import messages
from bot.models import Option, OutboundReply, PendingDelivery, QuickReplies
from bot.outbound.delivery import RetryDelivery
from bot.runtime import Runtime
from bot.settings import Settings
from testing.database import as_owner
from testing.twilio_api import FakeTwilio, Recorded
from tests.adapters.whatsapp.fixtures import ACCOUNT_SID, AUTH_TOKEN, new_wa_id, webhook_form
from tests.conftest import RuntimeFactory

PARAGRAPH = ("This sentence is here to take up room. " * 25).strip()  # ~1000 chars


@asynccontextmanager
async def whatsapp(runtime_factory: RuntimeFactory, settings: Settings
                   ) -> AsyncIterator[tuple[Runtime, WhatsAppAdapter]]:
    async with runtime_factory(settings=settings, worker=False) as rt:
        adapter = rt.adapters["whatsapp"]
        assert isinstance(adapter, WhatsAppAdapter)
        yield rt, adapter


async def stored_reply(rt: Runtime, reply: OutboundReply,
                       wa_id: str | None = None) -> PendingDelivery:
    """An inbound message from a contact and the stored (undelivered) reply to it."""
    result = await rt.ingest(to_inbound(webhook_form(wa_id or new_wa_id(), "hello")))
    inbound = await messages.read_unanswered(rt.db, result.contact_id, result.conversation_id)
    async with rt.db.as_user(result.contact_id) as conn:
        await messages.save_reply(conn, inbound=inbound, session_id=None, reply=reply)
        pending = await messages.undelivered(conn, result.conversation_id)
    return pending[-1]


async def update_contact(rt: Runtime, delivery: PendingDelivery,
                         **values: Any) -> PendingDelivery:
    """Change the recipient; the delivery as read again (it carries the recipient's state)."""
    sets = ", ".join(f"{k} = %s" for k in values)
    async with rt.db.as_system() as conn:
        await conn.execute(f"UPDATE app.contacts SET {sets} WHERE id = %s",
                           (*values.values(), delivery.contact_id))
    return await read_again(rt, delivery)


async def read_again(rt: Runtime, delivery: PendingDelivery) -> PendingDelivery:
    """The delivery as the deliverer would read it now (it carries the recipient's state
    and the parts already sent)."""
    assert delivery.contact_id is not None
    async with rt.db.as_user(delivery.contact_id) as conn:
        cur = await conn.execute(messages.UNDELIVERED_SQL.replace(
            "AND o.status IN ('pending', 'sending')", ""), (delivery.conversation_id,))
        rows = messages.undelivered_from(await cur.fetchall())
    return next(p for p in rows if p.id == delivery.id)


def creates(fake: FakeTwilio, delivery: PendingDelivery) -> list[Recorded]:
    return [r for r in fake.of_kind("messages")
            if r.method == "POST" and r.field("To") == f"whatsapp:+{delivery.recipient}"]


async def test_long_reply_is_split_and_sent_in_order(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    text = f"{PARAGRAPH} one\n\n{PARAGRAPH} two\n\n{PARAGRAPH} three"
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text=text))
        assert await adapter.was_sent(delivery) is None
        result = await adapter.send(delivery)
        assert await adapter.was_sent(await read_again(rt, delivery)) is True
    bodies = [r.field("Body") or "" for r in creates(fake_twilio, delivery)]
    assert [b.split()[-1] for b in bodies] == ["one", "two", "three"]
    assert all(len(b) <= 1600 for b in bodies)
    assert result.status == "sent"
    assert result.external_id == creates(fake_twilio, delivery)[0].sid, "the first part's SID"
    assert all(r.field("From") == "whatsapp:+14155238886" for r in creates(fake_twilio, delivery))


async def test_quick_replies_go_through_the_content_api_and_templates_are_cached(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    options = [Option(title="Yes", payload="answer:yes"), Option(title="No", payload="answer:no")]
    reply = OutboundReply(text="Shall we **go**?", parts=[QuickReplies(options=options)])
    settings = whatsapp_settings(whatsapp_content_api=True)
    async with whatsapp(runtime_factory, settings) as (rt, adapter):
        first = await stored_reply(rt, reply)
        assert (await adapter.send(first)).status == "sent"
    async with whatsapp(runtime_factory, settings) as (rt, adapter):  # a fresh process
        second = await stored_reply(rt, reply.model_copy(update={"text": "Again?"}))
        assert (await adapter.send(second)).status == "sent"
    templates = [r for r in fake_twilio.of_kind("content") if r.ok]
    assert len(templates) == 1, "created once, then found in the database cache"
    types = templates[0].json["types"]
    assert types == {"twilio/quick-reply": {"body": "{{1}}", "actions": [
        {"title": "Yes", "id": "answer:yes"}, {"title": "No", "id": "answer:no"}]}}
    (a,) = creates(fake_twilio, first)
    (b,) = creates(fake_twilio, second)
    assert a.field("ContentSid") == b.field("ContentSid") and a.field("ContentSid")
    assert a.field("Body") is None
    assert json.loads(a.field("ContentVariables") or "") == {"1": "Shall we *go*?"}
    assert json.loads(b.field("ContentVariables") or "") == {"1": "Again?"}


async def test_a_refused_template_degrades_to_a_numbered_menu(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    options = [Option(title="Left", payload="dir:l"), Option(title="Right", payload="dir:r")]
    reply = OutboundReply(text="Which way?", parts=[QuickReplies(options=options)])
    fake_twilio.fail_next("content", 400, code=20001, message="Invalid content")
    async with whatsapp(runtime_factory, whatsapp_settings(whatsapp_content_api=True)) as (
            rt, adapter):
        delivery = await stored_reply(rt, reply)
        result = await adapter.send(delivery)
    assert result.status == "sent"
    assert [r.field("Body") for r in creates(fake_twilio, delivery)] == [
        "Which way?", "1. Left\n2. Right\nReply with the number of your choice."]


async def test_a_503_is_tried_once_then_again_later_and_sent_once(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text="after a hiccup"))
        fake_twilio.fail_next("messages", 503)
        # no wait inside the send: the deliverer queues the reply again
        assert (await adapter.send(delivery)).status == "retry"
        result = await adapter.send(await read_again(rt, delivery))
    assert result.status == "sent"
    tries = creates(fake_twilio, delivery)
    assert len(tries) == 2 and [t.ok for t in tries] == [False, True]


async def test_429_leaves_the_reply_queued_with_retry_after(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text="rate limited"))
        fake_twilio.fail_next("messages", 429, times=3, retry_after="7", code=20429)
        result = await adapter.send(delivery)
        assert (result.status, result.retry_after_s) == ("retry", 7.0)
        assert len(creates(fake_twilio, delivery)) == 1, "one try per send"
        # through the deliverer: the row goes back to pending and the queue is told when
        fake_twilio.fail_next("messages", 429, times=3, retry_after="7")
        assert delivery.contact_id is not None
        conversation_id = await _conversation(rt, delivery)
        with pytest.raises(RetryDelivery) as raised:
            await rt.pipeline.deliverer.flush(conversation_id, delivery.contact_id)
        assert raised.value.retry_after_s == 7.0
        async with rt.db.as_system() as conn:
            cur = await conn.execute("SELECT status FROM app.messages WHERE id = %s",
                                     (delivery.id,))
            assert (await cur.fetchone()) == {"status": "pending"}
        fake_twilio.failures.clear()
        assert (await adapter.send(delivery)).status == "sent"


async def _conversation(rt: Runtime, delivery: PendingDelivery) -> Any:
    async with rt.db.as_system() as conn:
        cur = await conn.execute("SELECT conversation_id FROM app.messages WHERE id = %s",
                                 (delivery.id,))
        row = await cur.fetchone()
    assert row is not None
    return row["conversation_id"]


async def test_a_retry_resumes_after_the_parts_already_sent(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    text = f"{PARAGRAPH} one\n\n{PARAGRAPH} two"
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text=text))
        fake_twilio.fail_next("messages", 503, after=1)  # one try per send
        assert (await adapter.send(delivery)).status == "retry"
        # the deliverer's next attempt reads the row again, with the parts sent so far
        delivery = await read_again(rt, delivery)
        assert await adapter.was_sent(delivery) is None
        result = await adapter.send(delivery)
    assert result.status == "sent"
    bodies = [r.field("Body") or "" for r in creates(fake_twilio, delivery) if r.ok]
    assert [b[-3:] for b in bodies] == ["one", "two"], "no part twice"
    first = next(r for r in creates(fake_twilio, delivery) if r.ok)
    assert result.external_id == first.sid


async def test_a_rejected_message_fails_with_twilios_code(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text="to nowhere"))
        fake_twilio.fail_next("messages", 400, code=21211, message="Invalid 'To' Phone Number")
        result = await adapter.send(delivery)
    assert result.status == "failed" and result.error is not None
    assert "21211" in result.error and "Invalid 'To'" in result.error
    assert len(creates(fake_twilio, delivery)) == 1, "client errors are not retried"


async def test_outside_the_24_hour_window_nothing_free_form_is_sent(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text="a late answer"))
        delivery = await update_contact(rt, delivery,
                             last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
        result = await adapter.send(delivery)
        held = rt.metrics.registry.get_sample_value("bot_whatsapp_held_total",
                                                    {"reason": "outside_window"})
    assert result.status == "failed" and "24-hour" in (result.error or "")
    assert creates(fake_twilio, delivery) == [] and held == 1.0


async def test_outside_the_window_the_configured_template_carries_the_text(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    template = "HX" + "7" * 32
    settings = whatsapp_settings(whatsapp_outside_window_content_sid=template)
    async with whatsapp(runtime_factory, settings) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text="Your **order** shipped"))
        delivery = await update_contact(rt, delivery,
                             last_inbound_at=datetime.now(UTC) - timedelta(hours=30))
        result = await adapter.send(delivery)
    (request,) = creates(fake_twilio, delivery)
    assert result.status == "sent" and request.field("Body") is None
    assert request.field("ContentSid") == template
    assert json.loads(request.field("ContentVariables") or "") == {"1": "Your *order* shipped"}


async def test_nothing_but_the_confirmation_reaches_an_opted_out_contact(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text="promo"))
        delivery = await update_contact(rt, delivery, opted_out=True)
        refused = await adapter.send(delivery)
        notice = await stored_reply(rt, OutboundReply(text="You are unsubscribed.",
                                                      compliance_notice=True),
                                    wa_id=delivery.recipient)
        confirmed = await adapter.send(notice)
    assert refused.status == "failed" and "opted out" in (refused.error or "")
    assert confirmed.status == "sent"
    assert [r.field("Body") for r in creates(fake_twilio, delivery)] == ["You are unsubscribed."]


async def test_media_is_downloaded_with_the_account_credentials(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
    async with whatsapp(runtime_factory, whatsapp_settings(whatsapp_media_max_bytes=64)) as (
            _, adapter):
        assert await adapter.download_media(url) == fake_twilio.media
        fake_twilio.media = b"x" * 65
        with pytest.raises(ValueError, match="larger than 64"):
            await adapter.download_media(url)


def test_retry_after_is_read_and_capped() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sat, 21 Nov 2026 10:00:10 GMT",
                             now=datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None

    class State:
        def __init__(self, error: Exception) -> None:
            self.attempt_number = 1
            self.outcome = self
            self.error = error

        def exception(self) -> Exception:
            return self.error

    wait = RetryAfterOrBackoff(base_s=0.5, cap_s=30.0)
    assert wait(State(TwilioTransientError(429, 7.0, "x"))) == 7.0  # type: ignore[arg-type]
    assert wait(State(TwilioTransientError(429, 99.0, "x"))) == 30.0  # type: ignore[arg-type]
    assert 0 < wait(State(TwilioTransientError(503, None, "x"))) <= 30.0  # type: ignore[arg-type]


def test_base_url_rewrite_keeps_the_product() -> None:
    base = "http://127.0.0.1:9"
    assert rewrite_url("https://api.twilio.com/2010-04-01/A.json?x=1", base) == (
        "http://127.0.0.1:9/api/2010-04-01/A.json?x=1")
    assert rewrite_url("https://content.twilio.com/v1/Content", base) == (
        "http://127.0.0.1:9/content/v1/Content")
    assert rewrite_url("https://example.com/x", base) == "https://example.com/x"
    assert rewrite_url("https://api.twilio.com/x", None) == "https://api.twilio.com/x"
    assert AUTH_TOKEN  # the fake checks basic auth on every call


@asynccontextmanager
async def recording_sids_fails(rt: Runtime, delivery: PendingDelivery) -> AsyncIterator[None]:
    """Writing the SIDs on this reply's row fails, as when the database goes away."""
    name = f"fail_sid_record_{delivery.id}"
    assert rt.settings.database_url is not None
    owner = rt.settings.database_url
    async with as_owner(owner) as conn:
        await conn.execute(f"CREATE FUNCTION public.{name}() RETURNS trigger LANGUAGE plpgsql"
                           " AS $$ BEGIN RAISE EXCEPTION 'database unavailable'; END $$")
        await conn.execute(f"CREATE TRIGGER {name} BEFORE UPDATE ON app.messages FOR EACH ROW"
                           f" WHEN (NEW.id = {delivery.id} AND NEW.raw ? 'twilio_sids')"
                           f" EXECUTE FUNCTION public.{name}()")
    try:
        yield
    finally:
        async with as_owner(owner) as conn:
            await conn.execute(f"DROP TRIGGER {name} ON app.messages")
            await conn.execute(f"DROP FUNCTION public.{name}()")


@pytest.mark.parametrize("retry_with", ["send", "was_sent"])
async def test_a_part_twilio_accepted_is_not_sent_again_when_recording_it_failed(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, retry_with: str,
) -> None:
    async with whatsapp(runtime_factory, whatsapp_settings()) as (rt, adapter):
        delivery = await stored_reply(rt, OutboundReply(text="hello there"))
        async with recording_sids_fails(rt, delivery):
            with pytest.raises(psycopg.Error):
                await adapter.send(delivery)
        if retry_with == "send":
            assert (await adapter.send(delivery)).status == "sent"
        else:
            assert await adapter.was_sent(delivery) is True
        async with rt.db.as_system() as conn:
            cur = await conn.execute("SELECT raw FROM app.messages WHERE id = %s", (delivery.id,))
            row = await cur.fetchone()
    sent = creates(fake_twilio, delivery)
    assert len(sent) == 1
    assert row is not None and row["raw"]["twilio_sids"] == [sent[0].sid]


async def test_a_reply_another_worker_is_sending_is_not_sent_again_until_it_is_stale(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio,
) -> None:
    """A drain recovered as stalled while its first run still goes on finds the reply
    `sending` moments ago: it waits instead of sending a second copy."""
    async with whatsapp(runtime_factory, whatsapp_settings(queue_stalled_after_s=30)) as (
            rt, _adapter):
        delivery = await stored_reply(rt, OutboundReply(text="in flight"))
        assert delivery.contact_id is not None
        async with rt.db.as_user(delivery.contact_id) as conn:
            await conn.execute(messages.SET_DELIVERY_STATUS_SQL,
                               ("sending", None, None, "sending", delivery.id))
        conversation_id = await _conversation(rt, delivery)
        with pytest.raises(RetryDelivery) as raised:
            await rt.pipeline.deliverer.flush(conversation_id, delivery.contact_id)
        assert raised.value.retry_after_s is not None and 25 < raised.value.retry_after_s <= 30
        assert creates(fake_twilio, delivery) == []
        # Once it has been in flight longer than a stalled job waits, it is sent again.
        async with rt.db.as_system() as conn:
            await conn.execute("UPDATE app.messages SET updated_at = now() - interval '31 s'"
                               " WHERE id = %s", (delivery.id,))
        assert await rt.pipeline.deliverer.flush(conversation_id, delivery.contact_id) == 1
    assert len(creates(fake_twilio, delivery)) == 1
