"""Slack events and clicks → inbound messages: pure, no HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.events import (
    action_to_inbound,
    classify,
    event_to_inbound,
    message_ref,
    parse_key,
)
from tests.adapters.slack.requests import mention, message


def kind(event: dict[str, Any], ignore_bots: bool = True) -> str:
    return classify(event, bot_user_id="UBOT", bot_id="BBOT", ignore_bots=ignore_bots)


def test_mention_and_its_message_event_are_one_message() -> None:
    a = event_to_inbound("T1", mention("1.000100"), event_id="Ev1", bot_user_id="UBOT",
                         sender_name="Alice")
    b = event_to_inbound("T1", message("1.000100", text="<@UBOT> hello"), event_id="Ev2",
                         bot_user_id="UBOT", sender_name=None)
    assert a.external_id == b.external_id == "T1:C1:1.000100"
    assert a.conversation_key == b.conversation_key == "T1:C1:1.000100:U1"
    assert (a.sender_id, a.sender_name, a.text) == ("T1:U1", "Alice", "hello")


def test_conversation_keys() -> None:
    in_thread = message_ref("T1", mention("2.0", thread_ts="1.0", user="U2"))
    assert (in_thread.key, in_thread.thread_key) == ("T1:C1:1.0:U2", "T1:C1:1.0")
    assert message_ref("T1", message("2.0", channel="D1", channel_type="im")).key == "T1:D1"
    assert message_ref("T1", message("2.0", channel="D1", channel_type="im",
                                     thread_ts="1.0")).key == "T1:D1:1.0"
    ref = parse_key("T1:C1:1.0:U2")
    assert (ref.team, ref.channel, ref.thread_ts, ref.user) == ("T1", "C1", "1.0", "U2")
    assert parse_key("T1:D1").thread_ts is None


@pytest.mark.parametrize(("event", "expected"), [
    (mention("1.0"), "mention"),
    (message("1.0", channel_type="im"), "dm"),
    (message("2.0", thread_ts="1.0"), "thread"),
    (message("1.0"), "ignore"),
    (message("1.0", text="hey <@UBOT>"), "ignore"),
    (message("1.0", subtype="message_changed"), "ignore"),
    (message("1.0", subtype="message_deleted"), "ignore"),
    (message("1.0", subtype="channel_join"), "ignore"),
    (message("1.0", subtype="bot_message", channel_type="im"), "ignore"),
    (message("1.0", channel_type="im", bot_id="B2"), "ignore"),
    (message("1.0", channel_type="im", user="UBOT"), "ignore"),
    (message("1.0", channel_type="im", subtype="file_share"), "dm"),
    (mention("1.0") | {"edited": {"user": "U1", "ts": "2.0"}}, "ignore"),
])
def test_classify(event: dict[str, Any], expected: str) -> None:
    assert kind(event) == expected


def test_other_bots_can_be_let_in() -> None:
    assert kind(message("1.0", channel_type="im", bot_id="B2"), ignore_bots=False) == "dm"
    assert kind(message("1.0", channel_type="im", bot_id="BBOT"), ignore_bots=False) == "ignore"


def test_a_click_is_an_inbound_message_with_the_payload_in_the_same_thread() -> None:
    body = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"},
            "channel": {"id": "C1"}, "container": {"message_ts": "5.0", "thread_ts": "1.0"},
            "message": {"ts": "5.0", "thread_ts": "1.0"},
            "actions": [{"type": "button", "value": "yes-1", "action_ts": "6.0",
                         "text": {"type": "plain_text", "text": "Yes"}}]}
    inbound = action_to_inbound(body)
    assert inbound is not None
    assert (inbound.conversation_key, inbound.payload, inbound.text) == (
        "T1:C1:1.0:U1", "yes-1", "Yes")
    assert inbound.external_id == "T1:C1:5.0:action:6.0"
    select = body | {"actions": [{"type": "static_select", "action_ts": "7.0",
                                  "selected_option": {"value": "c3", "text": {
                                      "type": "plain_text", "text": "City 3"}}}]}
    picked = action_to_inbound(select)
    assert picked is not None and (picked.payload, picked.text) == ("c3", "City 3")
    assert action_to_inbound(body | {"actions": []}) is None


def test_a_file_only_message_reads_as_its_files() -> None:
    files = [{"id": "F1", "name": "receipt.png", "mimetype": "image/png",
              "url_private": "https://files.slack.com/files-pri/T1-F1/receipt.png"},
             {"id": "F2", "name": "contract.pdf", "mimetype": "application/pdf",
              "url_private": "https://files.slack.com/files-pri/T1-F2/contract.pdf"}]
    event = message("1.0", text="", channel="D1", channel_type="im", subtype="file_share",
                    files=files)
    inbound = event_to_inbound("T1", event, event_id="Ev1", bot_user_id="UBOT", sender_name=None)
    assert inbound.text == ("[image: image/png, receipt.png]\n"
                            "[document: application/pdf, contract.pdf]")
    assert [m.content_type for m in inbound.media] == ["image/png", "application/pdf"]
    with_text = event_to_inbound("T1", message("2.0", text="<@UBOT> see this", channel="D1",
                                               channel_type="im", files=files[:1]),
                                 event_id="Ev2", bot_user_id="UBOT", sender_name=None)
    assert with_text.text == "see this\n[image: image/png, receipt.png]"
