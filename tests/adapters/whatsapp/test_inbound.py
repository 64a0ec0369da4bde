"""Twilio webhook parsing and the public URL signatures are checked against (pure)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from adapters.whatsapp.inbound import (
    MalformedForm,
    RequestOrigin,
    address,
    decode_form,
    public_url,
    to_inbound,
)

BASE_FORM = {
    "MessageSid": "SM" + "a" * 32, "SmsMessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "b" * 32,
    "From": "whatsapp:+4915112345678", "To": "whatsapp:+14155238886", "WaId": "4915112345678",
    "ProfileName": "Ana", "Body": "Hello there", "NumMedia": "0", "NumSegments": "1",
    "ApiVersion": "2010-04-01", "SomeFieldTwilioAddsLater": "x",
}


def test_text_message_maps_to_the_common_form() -> None:
    msg = to_inbound(BASE_FORM)
    assert (msg.channel, msg.external_id, msg.sender_id, msg.conversation_key) == (
        "whatsapp", "SM" + "a" * 32, "4915112345678", "4915112345678")
    assert msg.sender_name == "Ana" and msg.text == "Hello there"
    assert msg.raw["SomeFieldTwilioAddsLater"] == "x" and "Body" not in msg.raw


def test_every_media_item_is_kept_and_described() -> None:
    form = BASE_FORM | {"Body": "", "NumMedia": "2",
                        "MediaUrl0": "https://api.twilio.com/m/0",
                        "MediaContentType0": "image/jpeg",
                        "MediaUrl1": "https://api.twilio.com/m/1",
                        "MediaContentType1": "application/pdf"}
    msg = to_inbound(form)
    assert [m.url for m in msg.media] == ["https://api.twilio.com/m/0", "https://api.twilio.com/m/1"]
    assert msg.text == "[image: image/jpeg]\n[document: application/pdf]"


def test_caption_comes_before_the_media_description() -> None:
    form = BASE_FORM | {"Body": "my receipt", "NumMedia": "1", "MediaUrl0": "https://m/0",
                        "MediaContentType0": "audio/ogg"}
    assert to_inbound(form).text == "my receipt\n[audio: audio/ogg]"


def test_button_reply_location_and_reply_to() -> None:
    form = BASE_FORM | {"Body": "Yes please", "ButtonPayload": "confirm:42",
                        "ButtonText": "Yes please", "OriginalRepliedMessageSid": "SM" + "c" * 32}
    msg = to_inbound(form)
    assert msg.payload == "confirm:42" and msg.reply_to_external_id == "SM" + "c" * 32
    loc = to_inbound(BASE_FORM | {"Body": "", "Latitude": "52.52", "Longitude": "13.405",
                                  "Address": "Alexanderplatz", "Label": "Meet here"})
    assert loc.location is not None and loc.location.latitude == 52.52
    assert loc.text == "[location: Meet here, Alexanderplatz (52.52, 13.405)]"


def test_missing_ids_are_rejected() -> None:
    with pytest.raises(ValueError):
        to_inbound({"Body": "no sender"})


def test_form_decoding_is_strict() -> None:
    assert decode_form(b"Body=caf%C3%A9&NumMedia=0") == {"Body": "café", "NumMedia": "0"}
    with pytest.raises(MalformedForm):
        decode_form(b"Body=%FF%FE")
    with pytest.raises(MalformedForm):
        decode_form(b"\xff\xfe=1")
    with pytest.raises(MalformedForm):
        decode_form(b"Body=a&Body=b")


FORM_TEXT = st.text(alphabet=st.sampled_from("aZ09 +%&=;é€\u2028"), max_size=12)


@given(st.lists(st.tuples(FORM_TEXT, FORM_TEXT), max_size=6),
       st.text(alphabet=st.sampled_from("ab%2Fé+=&;"), max_size=20))
def test_form_decoding_reads_what_parse_qsl_reads(pairs: list[tuple[str, str]],
                                                   raw: str) -> None:
    for body in (urlencode(pairs), raw):
        try:
            expected = parse_qsl(body, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:  # "%F2": an escape that is not UTF-8
            with pytest.raises(MalformedForm):
                decode_form(body.encode())
            continue
        keys = [key for key, _ in expected]
        if len(set(keys)) < len(keys):
            with pytest.raises(MalformedForm):
                decode_form(body.encode())
        else:
            assert decode_form(body.encode()) == dict(expected)


def test_twilios_validator_gives_a_decoded_form_the_same_verdict_as_a_plain_dict() -> None:
    validator = RequestValidator("auth-token")
    url = "https://bot.example.com/whatsapp/webhook"
    form = decode_form(urlencode({**BASE_FORM, "Body": "café & co"}).encode())
    assert form.getall("Body") == ["café & co"]
    for signed_url in (url, "https://bot.example.com:443/whatsapp/webhook"):
        signature = validator.compute_signature(signed_url, dict(form))
        assert validator.compute_signature(signed_url, form) == signature
        assert validator.validate(url, form, signature)
        assert validator.validate(url, dict(form), signature)
    tampered = decode_form(urlencode({**BASE_FORM, "Body": "café & cö"}).encode())
    assert not validator.validate(url, tampered, validator.compute_signature(url, dict(form)))


ORIGIN = RequestOrigin(scheme="http", host="10.0.0.5:8000", path="/webhooks/whatsapp",
                       query="", peer="10.0.0.2", forwarded_proto="https",
                       forwarded_host="bot.example.com")


def test_public_url_prefers_the_configured_base() -> None:
    assert public_url(ORIGIN, base_url="https://bot.example.com/", trusted=[]) == (
        "https://bot.example.com/webhooks/whatsapp")
    assert public_url(ORIGIN, base_url="https://x.test/prefix", trusted=[]) == (
        "https://x.test/prefix/webhooks/whatsapp")


def test_forwarded_headers_count_only_from_trusted_proxies() -> None:
    assert public_url(ORIGIN, base_url=None, trusted=[]) == "http://10.0.0.5:8000/webhooks/whatsapp"
    assert public_url(ORIGIN, base_url=None, trusted=["10.0.0.0/24"]) == (
        "https://bot.example.com/webhooks/whatsapp")
    assert public_url(ORIGIN, base_url=None, trusted=["10.0.0.3"]) == (
        "http://10.0.0.5:8000/webhooks/whatsapp")
    chained = RequestOrigin("http", "h", "/p", "m=1", "10.0.0.2", "https, http", "a.test, b")
    assert public_url(chained, base_url=None, trusted=["10.0.0.2", "bogus"]) == "https://a.test/p?m=1"


def test_address_for_twilio() -> None:
    assert address("4915112345678") == "whatsapp:+4915112345678"
    assert address("whatsapp:+1555") == "whatsapp:+1555"
