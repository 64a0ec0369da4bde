"""Webhooks and the chat API fuzzed: malformed forms, wrong content types, huge fields,
invalid UTF-8, missing and duplicated parameters. Never a 5xx (the database is up),
never a crash, and nothing stored from a request that is not correctly signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bench import traffic
from tests.fuzz.conftest import PUBLIC, LiveBot

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

CONTENT_TYPES = st.sampled_from([
    "application/x-www-form-urlencoded", "application/json", "text/plain", "",
    "multipart/form-data; boundary=x", "application/x-www-form-urlencoded; charset=latin-1",
    "application/octet-stream",
])
FIELD_NAMES = st.sampled_from(["From", "To", "Body", "MessageSid", "WaId", "NumMedia",
                               "MediaUrl0", "MediaContentType0", "Latitude", "ProfileName",
                               "ButtonPayload", "AccountSid", "MessageStatus"])
TEXT = st.text(max_size=50) | st.just("x" * 70_000) | st.sampled_from(["", "0", "-1", "99"])
# (name, value) pairs: names may repeat, fields may be missing
FORMS = st.lists(st.tuples(FIELD_NAMES | st.text(max_size=10), TEXT), max_size=12)
RAW = st.binary(max_size=3000) | st.sampled_from([b"\xff\xfe\x00", b"%ff%fe=%c3%28",
                                                  b"Body=%E0%80%80&From=x", b"a=1&a=2&&=&"])


def twilio_signature(path: str, pairs: list[tuple[str, str]]) -> str:
    # The validator signs the form's values by name (the last one wins in a dict).
    return str(RequestValidator(traffic.AUTH_TOKEN).compute_signature(PUBLIC + path,
                                                                       dict(pairs)))


def post(bot: LiveBot, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=bot.url, timeout=30) as client:
        return client.post(path, content=body, headers=headers)


@FUZZ
@given(path=st.sampled_from(["/webhooks/whatsapp", "/webhooks/whatsapp/status"]),
       body=RAW | FORMS.map(lambda p: urlencode(p).encode()),
       content_type=CONTENT_TYPES,
       signature=st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                     max_size=40) | st.just("bm90IGEgc2lnbmF0dXJl"))
def test_unsigned_twilio_webhooks_are_refused_and_store_nothing(
    live_bot: LiveBot, path: str, body: bytes, content_type: str, signature: str | None,
) -> None:
    before = live_bot.stored_inbound()
    headers = {"Content-Type": content_type}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    response = post(live_bot, path, body, headers)
    assert response.status_code in (400, 403, 413, 422)
    assert live_bot.stored_inbound() == before


@FUZZ
@given(pairs=FORMS, path=st.sampled_from(["/webhooks/whatsapp", "/webhooks/whatsapp/status"]))
def test_signed_malformed_twilio_forms_never_fail_the_server(
    live_bot: LiveBot, pairs: list[tuple[str, str]], path: str,
) -> None:
    body = urlencode(pairs).encode()
    response = post(live_bot, path, body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(path, pairs)})
    assert response.status_code < 500, response.text[:200]


def slack_headers(body: bytes, *, valid: bool, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 of b"v0:<timestamp>:<body>" (bytes, any body)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(traffic.SLACK_SECRET.encode(), b"v0:" + ts.encode() + b":" + body,
                      hashlib.sha256).hexdigest()
    signature = "v0=" + (digest if valid else "0" * 64)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": "application/json"}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12)
EVENTS = st.fixed_dictionaries({
    "type": st.sampled_from(["message", "app_mention", "reaction_added", "", "member_joined"]),
}, optional={
    "user": st.text(max_size=8) | st.integers(), "text": TEXT, "ts": st.text(max_size=20),
    "channel": st.text(max_size=12), "channel_type": st.sampled_from(["im", "channel", "x"]),
    "thread_ts": st.text(max_size=20), "subtype": st.sampled_from(["bot_message",
                                                                   "message_changed", ""]),
    "files": JSON_VALUES, "blocks": JSON_VALUES,
})
ENVELOPES = st.fixed_dictionaries({"type": st.sampled_from(["event_callback", "url_verification",
                                                            "block_actions", "unknown"])},
                                  optional={"event": EVENTS | JSON_VALUES,
                                            "team_id": st.text(max_size=6),
                                            "event_id": st.text(max_size=12),
                                            "challenge": st.text(max_size=12)})


@FUZZ
@given(body=RAW | ENVELOPES.map(lambda e: json.dumps(e).encode()),
       stale=st.booleans())
def test_unsigned_or_stale_slack_requests_are_refused_and_store_nothing(
    live_bot: LiveBot, body: bytes, stale: bool,
) -> None:
    before = live_bot.stored_inbound()
    headers = (slack_headers(body, valid=True, timestamp=int(time.time()) - 3600) if stale
               else slack_headers(body, valid=False))
    response = post(live_bot, "/slack/events", body, headers)
    assert response.status_code in (400, 401)  # 400: not even UTF-8 JSON or a form
    assert live_bot.stored_inbound() == before


@FUZZ
@given(body=ENVELOPES.map(lambda e: json.dumps(e).encode())
       | st.dictionaries(st.sampled_from(["payload", "command", "x"]), st.text(max_size=300),
                         max_size=3).map(lambda d: urlencode(d).encode()))
def test_signed_odd_slack_requests_never_fail_the_server(live_bot: LiveBot, body: bytes) -> None:
    response = post(live_bot, "/slack/events", body, slack_headers(body, valid=True))
    assert response.status_code < 500, response.text[:200]


@FUZZ
@given(body=RAW | JSON_VALUES.map(lambda v: json.dumps(v).encode())
       | st.fixed_dictionaries({}, optional={
           "text": TEXT | st.integers(), "session_id": st.text(max_size=70),
           "user": st.text(max_size=70) | st.none(), "payload": TEXT,
           "message_id": st.text(max_size=70)}).map(lambda d: json.dumps(d).encode()),
       content_type=CONTENT_TYPES)
def test_chat_api_answers_malformed_requests_without_a_server_error(
    live_bot: LiveBot, body: bytes, content_type: str,
) -> None:
    response = post(live_bot, "/api/chat/stream", body, {"Content-Type": content_type})
    assert response.status_code < 500, response.text[:200]
