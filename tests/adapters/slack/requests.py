"""Signed Slack requests for tests, made the way Slack makes them."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "test-signing-secret"


def signed_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                   content_type: str = "application/json") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": content_type}


def event_body(event: dict[str, Any], *, event_id: str, team: str = "T1") -> str:
    return json.dumps({"token": "legacy", "team_id": team, "api_app_id": "A1",
                       "event": event, "type": "event_callback", "event_id": event_id,
                       "event_time": int(time.time()), "authorizations": [
                           {"team_id": team, "user_id": "UBOT", "is_bot": True}]})


def mention(ts: str, *, text: str = "<@UBOT> hello", user: str = "U1", channel: str = "C1",
            thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel,
             "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(ts: str, *, text: str = "hello", user: str = "U1", channel: str = "C1",
            channel_type: str = "channel", thread_ts: str | None = None,
            **extra: Any) -> dict[str, Any]:
    event = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel,
             "channel_type": channel_type, "event_ts": ts, **extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def action_body(*, message_ts: str, value: str, title: str, thread_ts: str | None,
                channel: str = "C1", user: str = "U1", blocks: list[Any] | None = None,
                action_ts: str = "1700000099.000001", action_id: str = "bot_choice:1") -> str:
    msg: dict[str, Any] = {"type": "message", "ts": message_ts, "text": "pick one",
                           "blocks": blocks or []}
    container: dict[str, Any] = {"type": "message", "message_ts": message_ts,
                                 "channel_id": channel, "is_ephemeral": False}
    if thread_ts:
        msg["thread_ts"] = container["thread_ts"] = thread_ts
    payload = {"type": "block_actions", "team": {"id": "T1", "domain": "t"},
               "user": {"id": user, "team_id": "T1", "name": "alice"}, "api_app_id": "A1",
               "token": "legacy", "container": container, "trigger_id": "trig",
               "channel": {"id": channel, "name": "general"}, "message": msg,
               "actions": [{"type": "button", "action_id": action_id, "block_id": "b1",
                            "text": {"type": "plain_text", "text": title}, "value": value,
                            "action_ts": action_ts}]}
    return urlencode({"payload": json.dumps(payload)})
