"""The direct path for plain Slack message events, against the fake Slack Web API."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.direct import DirectEvents, direct_event
from testing.slack_api import BOT_ID, BOT_USER_ID, FakeSlackApi, serve_fake_slack
from tests.adapters.slack.requests import (
    SIGNING_SECRET,
    event_body,
    mention,
    message,
    signed_headers,
)


@dataclass
class Heard:
    """The listener's calls: what bolt would have handed the adapter's `_on_message`."""

    calls: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = field(
        default_factory=list)

    async def __call__(self, body: dict[str, Any], event: dict[str, Any],
                       context: dict[str, Any], client: AsyncWebClient) -> None:
        self.calls.append((body, event, context))


@dataclass
class Direct:
    fake: FakeSlackApi
    heard: Heard
    events: DirectEvents

    async def take(self, body: str, **headers: Any) -> bool:
        signed = {k.lower(): v for k, v in signed_headers(body, **headers).items()}
        return await self.events.take(body.encode(), signed)


@pytest.fixture
async def direct() -> AsyncIterator[Direct]:
    async with serve_fake_slack() as fake:
        heard = Heard()
        client = AsyncWebClient(token="xoxb-test", base_url=fake.url)
        yield Direct(fake, heard, DirectEvents(SIGNING_SECRET, client, heard,
                                               console_channel="CSUPPORT"))


async def test_a_plain_message_is_handed_to_the_listener_with_the_bots_identity(
    direct: Direct,
) -> None:
    assert await direct.take(event_body(mention("1700000000.000001"), event_id="Ev1"))
    assert await direct.take(event_body(message("1700000000.000002", channel_type="im",
                                                channel="D1"), event_id="Ev2"))
    assert [c[1]["ts"] for c in direct.heard.calls] == ["1700000000.000001",
                                                        "1700000000.000002"]
    assert direct.heard.calls[0][2] == {"bot_user_id": BOT_USER_ID, "bot_id": BOT_ID}
    assert direct.heard.calls[0][0]["event_id"] == "Ev1"
    assert len(direct.fake.of("auth.test")) == 1, "the identity is asked once per process"


@pytest.mark.parametrize(("headers", "why"), [
    ({"secret": "another-secret"}, "signed with another secret"),
    ({"timestamp": int(time.time()) - 301}, "older than five minutes"),
])
async def test_a_request_that_fails_the_check_is_left_to_bolt(
    direct: Direct, headers: dict[str, Any], why: str,
) -> None:
    assert not await direct.take(event_body(mention("1700000000.000003"), event_id="Ev3"),
                                 **headers), why
    assert direct.heard.calls == []


async def test_odd_signature_headers_are_left_to_bolt_without_an_error(direct: Direct) -> None:
    body = event_body(mention("1700000000.000004"), event_id="Ev4")
    for timestamp, signature in [("", ""), ("12e3", "v0=00"), ("١٢٣", "v0=00"),
                                 (str(int(time.time())), "v0=é")]:
        headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}
        assert not await direct.events.take(body.encode(), headers)
    assert direct.heard.calls == []


async def test_without_the_bots_identity_bolt_answers(direct: Direct) -> None:
    direct.fake.fail("auth.test", status=500, error="internal_error", times=1)
    body = event_body(mention("1700000000.000005"), event_id="Ev5")
    assert not await direct.take(body)
    assert await direct.take(body), "asked again on the next event"


@pytest.mark.parametrize("body", [
    event_body(message("1700000000.000006", channel="CSUPPORT"), event_id="Ev6"),
    event_body({"type": "reaction_added", "user": "U1", "reaction": "eyes",
                "item": {"type": "message", "channel": "C1", "ts": "1.0"},
                "event_ts": "1700000000.000007"}, event_id="Ev7"),
    json.dumps({"type": "url_verification", "challenge": "abc", "token": "t"}),
    event_body(message("1700000000.000008", user=0), event_id="Ev8"),  # type: ignore[arg-type]
    json.dumps({"type": "event_callback", "event": "not an object"}),
    "payload=%7B%22type%22%3A%22block_actions%22%7D",
    "{not json",
], ids=["support-channel", "other-event", "url-verification", "wrong-field-type",
        "event-not-object", "interactivity-form", "not-json"])
def test_only_plain_message_events_take_the_direct_path(body: str) -> None:
    assert direct_event(body.encode(), console_channel="CSUPPORT") is None


def test_bytes_that_are_not_utf8_are_left_to_bolt() -> None:
    assert direct_event(b'{"type": "event_callback", "x": "\xff"}', console_channel=None) is None
