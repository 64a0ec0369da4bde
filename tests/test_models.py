"""The common message form."""

from __future__ import annotations

from bot.models import InboundMessage, short_title


def test_nul_is_dropped_from_every_string_an_inbound_message_holds() -> None:
    message = InboundMessage(
        channel="whatsapp", external_id="SM\x001", sender_id="49\x00151", conversation_key="k",
        text="hel\x00lo", sender_name=None,
        media=[{"url": "https://x/\x00a", "content_type": "image/png"}],  # type: ignore[list-item]
        raw={"Body\x00": "a\x00b", "nested": {"list": ["x\x00", 1, None, {"k\x00": "\x00v"}]},
             "plain": "no nul here", "number": 3})
    assert (message.external_id, message.sender_id, message.text) == ("SM1", "49151", "hello")
    assert message.media[0].url == "https://x/a"
    assert message.raw == {"Body": "ab", "nested": {"list": ["x", 1, None, {"k": "v"}]},
                           "plain": "no nul here", "number": 3}
    assert "\x00" not in message.model_dump_json()


def test_lone_surrogates_are_replaced_so_the_message_can_be_stored() -> None:
    message = InboundMessage(
        channel="slack", external_id="T1:D1:1.0", sender_id="T1:U1", conversation_key="T1:D1",
        text="hi \ud800 there 😀", sender_name="Ana \udfff",
        raw={"k\ud801": ["v\udc00", "ok"]})
    assert message.text == "hi \ufffd there 😀" and message.sender_name == "Ana \ufffd"
    assert message.raw == {"k\ufffd": ["v\ufffd", "ok"]}
    message.model_dump_json().encode("utf-8")  # every string is valid UTF-8 now


def test_a_cut_button_title_says_so_with_an_ellipsis() -> None:
    assert short_title("Wed 12:15pm Lunchtime Flow", 24) == "Wed 12:15pm Lunchtime F…"
    assert len(short_title("Wed 12:15pm Lunchtime Flow", 24)) == 24
    assert short_title("Strong Foundations", 13) == "Strong Found…"
    assert short_title("Sat 9:00am Vinyasa Flow", 24) == "Sat 9:00am Vinyasa Flow"  # fits
    assert short_title("Opening hours and more ", 14) == "Opening hours…"
