"""Requests as the platforms send them: signed Twilio and Slack webhooks, web chat calls.

Twilio's signature is computed by the twilio SDK's own `RequestValidator` and Slack's
by slack-sdk's `SignatureVerifier` (v0 HMAC-SHA256 of `v0:timestamp:body`), so the
server verifies them exactly as it verifies the real platforms' requests.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
SENDER = "whatsapp:+14155238886"
SLACK_SECRET = "bench-signing-secret"
SLACK_TOKEN = "xoxb-bench"
SLACK_TEAM = "T1"
#: texts the fixture bot routes to its LLM agent route (testing/fixture_bot/bot.yaml)
TEXTS = ["when is yoga", "class times please", "what is on today", "when is yoga tomorrow"]


@dataclass(frozen=True)
class Outgoing:
    """One HTTP request to send: what, where, and which conversation it belongs to."""

    channel: str
    conversation: str
    path: str
    body: bytes
    headers: dict[str, str]
    #: the inbound message's id as the bot stores it (app.messages.external_id)
    external_id: str = ""


@dataclass
class Traffic:
    """Builds signed requests over `conversations` conversations per channel, round robin."""

    public_base_url: str
    conversations: int = 100
    #: keeps each Traffic's senders, conversations and ids apart from any other's
    run_tag: str = field(default_factory=lambda: str(secrets.randbelow(10**9)).zfill(9))
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def whatsapp(self, n: int, *, text: str | None = None) -> Outgoing:
        conv = n % self.conversations
        wa_id = f"49{self.run_tag}{conv:04d}"  # 15 digits, E.164's longest
        sid = f"SM{self.run_tag}{next(self._seq):023d}"[:34]
        form = {
            "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:+{wa_id}", "To": SENDER, "WaId": wa_id, "ProfileName": "Bench",
            "Body": text or TEXTS[n % len(TEXTS)], "NumMedia": "0", "NumSegments": "1",
            "MessageType": "text", "SmsStatus": "received", "ApiVersion": "2010-04-01",
        }
        path = "/webhooks/whatsapp"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            self.public_base_url + path, form)
        return Outgoing("whatsapp", f"whatsapp:+{wa_id}", path, urlencode(form).encode(),
                        {"X-Twilio-Signature": str(signature),
                         "Content-Type": "application/x-www-form-urlencoded"}, sid)

    def slack(self, n: int, *, text: str | None = None) -> Outgoing:
        conv = n % self.conversations
        channel = f"D{self.run_tag}{conv:05d}"
        seq = next(self._seq)
        ts = f"{1_700_000_000 + seq}.{seq % 1_000_000:06d}"
        event = {"type": "message", "user": f"U{conv:05d}", "text": text or TEXTS[n % len(TEXTS)],
                 "ts": ts, "channel": channel, "channel_type": "im", "event_ts": ts}
        body = json.dumps({"token": "legacy", "team_id": SLACK_TEAM, "api_app_id": "A1",
                           "event": event, "type": "event_callback",
                           "event_id": f"Ev{self.run_tag}{seq:010d}",
                           "event_time": int(time.time()),
                           "authorizations": [{"team_id": SLACK_TEAM, "user_id": "UBOT",
                                               "is_bot": True}]})
        return Outgoing("slack", channel, "/slack/events", body.encode(),
                        slack_headers(body), f"{SLACK_TEAM}:{channel}:{ts}")

    def web(self, n: int, *, text: str | None = None) -> Outgoing:
        conv = n % self.conversations
        session = f"bench-{self.run_tag}-{conv:05d}"
        body = json.dumps({"text": text or TEXTS[n % len(TEXTS)], "session_id": session,
                           "message_id": f"m-{self.run_tag}-{next(self._seq):010d}"})
        return Outgoing("web", session, "/api/chat", body.encode(),
                        {"Content-Type": "application/json"})


def slack_headers(body: str, *, retry: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=ts, body=body)
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": str(signature),
               "Content-Type": "application/json"}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers
