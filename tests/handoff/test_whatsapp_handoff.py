"""A WhatsApp customer handed to a person: signed webhook in, staff replies out through
the fake Twilio, and a reply after WhatsApp's 24-hour window reported back to staff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.db.pool import Database
from bot.settings import Settings
from testing.twilio_api import FakeTwilio
from tests.adapters.whatsapp.fixtures import new_wa_id, webhook_form, webhooks_for
from tests.conftest import RuntimeFactory, wait_for
from tests.handoff.test_flow import RecordingConsole, handoff_runtime


def sent_to(fake: FakeTwilio, wa_id: str) -> list[str]:
    return [r.field("Body") or "" for r in fake.sent() if r.field("To") == f"whatsapp:+{wa_id}"]


async def conversation_of(db: Database, wa_id: str) -> dict[str, Any]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT id, contact_id FROM app.conversations"
                                 " WHERE channel = 'whatsapp' AND conversation_key = %s",
                                 (wa_id,))
        row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def staff_rows(db: Database, conversation_id: object) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT text, status, author FROM app.messages WHERE conversation_id = %s"
            " AND direction = 'out' AND author IS NOT NULL ORDER BY id", (conversation_id,))
        return list(await cur.fetchall())


async def test_whatsapp_user_gets_a_person_and_late_staff_replies_are_reported(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    console = RecordingConsole()
    wa_id = new_wa_id()
    settings = whatsapp_settings(whatsapp_outside_window_content_sid=None)
    async with handoff_runtime(runtime_factory, console, settings=settings) as rt, \
            webhooks_for(rt) as hooks:
        assert (await hooks.post(webhook_form(wa_id, "Can I talk to a person?"))).status_code \
            == 200

        async def told() -> bool:
            return any("person from our team" in body for body in sent_to(fake_twilio, wa_id))
        await wait_for(told)
        conversation = await conversation_of(db, wa_id)
        handoff = await rt.handoffs.open_handoff(conversation["id"])
        assert handoff is not None and handoff.status == "waiting"
        assert handoff.channel == "whatsapp" and handoff.id in [h.id for h in console.announced]

        # A staff reply reaches the customer on WhatsApp, through Twilio.
        result = await rt.handoffs.reply(handoff.id, "maria", "Hi, Maria here. Let me look.")
        assert result.ok

        async def delivered() -> bool:
            return any("Maria here" in body for body in sent_to(fake_twilio, wa_id))
        await wait_for(delivered)
        (row,) = await staff_rows(db, conversation["id"])
        assert (row["author"], row["status"]) == ("maria", "sent")

        # 25 hours later, without an approved template, WhatsApp would refuse free text:
        # the reply is held, and staff are told in the console.
        async with db.as_system() as conn:
            await conn.execute("UPDATE app.contacts SET last_inbound_at = now() - interval"
                               " '25 hours' WHERE id = %s", (conversation["contact_id"],))
        late = await rt.handoffs.reply(handoff.id, "maria", "Sorry for the wait, all fixed!")
        assert late.ok

        async def reported() -> bool:
            return any("could not be delivered" in n
                       for n in console.notices_by_handoff.get(handoff.id, []))
        await wait_for(reported)
    (notice,) = [n for n in console.notices_by_handoff[handoff.id] if "could not be" in n]
    assert "Sorry for the wait" in notice and "24-hour window" in notice
    assert "WHATSAPP_OUTSIDE_WINDOW_CONTENT_SID" in notice  # what to configure
    assert not any("Sorry for the wait" in body for body in sent_to(fake_twilio, wa_id))
    rows = await staff_rows(db, conversation["id"])
    assert [r["status"] for r in rows] == ["sent", "failed"]
