"""Contact cards read as names and numbers (pure), and end to end through WhatsApp."""

from __future__ import annotations

from collections.abc import Callable

from bot.db.pool import Database
from bot.routing.router import Router
from bot.settings import Settings
from bot.turn.stages.shared_contacts import read_contact_card
from testing.twilio_api import FakeTwilio
from tests.adapters.whatsapp.fixtures import (
    ACCOUNT_SID,
    fake_twilio,
    new_wa_id,
    webhook_form,
    webhooks_for,
    whatsapp_settings,
)
from tests.adapters.whatsapp.test_adapter import Echo, outbound_rows
from tests.conftest import RuntimeFactory, wait_for

# as WhatsApp shares a contact: vCard 3.0, the number grouped with its WhatsApp id
WHATSAPP_CARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lima;Ana;;;\r\nFN:Ana Lima\r\n"
                 b"item1.TEL;waid=5511912345678:+55 11 91234-5678\r\n"
                 b"item1.X-ABLabel:Mobile\r\nEND:VCARD\r\n")


def test_a_card_reads_as_name_and_numbers() -> None:
    assert read_contact_card(WHATSAPP_CARD) == "[contact: Ana Lima, +55 11 91234-5678]"
    two = WHATSAPP_CARD + (b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN;CHARSET=UTF-8;ENCODING=QUOTED-"
                           b"PRINTABLE:Jos=C3=A9 M\r\nTEL;CELL:+34600111222\r\nEND:VCARD\r\n")
    assert read_contact_card(two) == ("[contact: Ana Lima, +55 11 91234-5678]\n"
                                      "[contact: José M, +34600111222]")
    # a folded long line (RFC 6350 3.2) is one value
    folded = (b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Maria da Concei\r\n \xc3\xa7\xc3\xa3o\r\n"
              b"END:VCARD\r\n")
    assert read_contact_card(folded) == "[contact: Maria da Conceição]"
    assert read_contact_card(b"not a card at all") is None
    assert read_contact_card(b"BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n") is None


async def test_a_shared_contact_reads_to_the_bot_as_the_persons_name_and_number(
    runtime_factory: RuntimeFactory, whatsapp_settings: Callable[..., Settings],
    fake_twilio: FakeTwilio, db: Database,
) -> None:
    wa_id = new_wa_id()
    fake_twilio.media_files["ME" + "c" * 32] = (WHATSAPP_CARD, "text/vcard")
    media_url = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
                 f"MM{'d' * 32}/Media/ME{'c' * 32}")
    unreadable = media_url.replace("ME" + "c" * 32, "ME" + "e" * 32)  # a PNG, not a card
    echo = Echo()
    async with runtime_factory(settings=whatsapp_settings(), router=Router(echo)) as rt, \
            webhooks_for(rt) as hooks:
        form = webhook_form(wa_id, "", MessageType="contacts", NumMedia="1",
                            MediaContentType0="text/vcard", MediaUrl0=media_url)
        assert (await hooks.post(form)).status_code == 200
        await wait_for(lambda: _replied(db, wa_id, 1))
        form = webhook_form(wa_id, "this one too", MessageType="contacts", NumMedia="1",
                            MediaContentType0="text/vcard", MediaUrl0=unreadable)
        await hooks.post(form)
        await wait_for(lambda: _replied(db, wa_id, 2))
    assert [t.text for t in echo.turns][-2:] == [
        "[contact: Ana Lima, +55 11 91234-5678]", "this one too\n[contact card]"]
    downloads = fake_twilio.of_kind("media")
    assert len(downloads) == 2 and all(r.ok for r in downloads)  # with the account's auth


__all__ = ["fake_twilio", "whatsapp_settings"]  # fixtures of the WhatsApp tests


async def _replied(db: Database, wa_id: str, count: int) -> bool:
    return len(await outbound_rows(db, wa_id)) >= count
