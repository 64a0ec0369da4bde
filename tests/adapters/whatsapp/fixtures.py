"""Shared pieces of the WhatsApp tests: a fake Twilio, settings, signed webhooks."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import Settings
from testing.twilio_api import FakeTwilio, running_fake_twilio

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SENDER = "whatsapp:+14155238886"
PUBLIC = "https://bot.example.com"


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def whatsapp_settings(make_settings: Callable[..., Settings],
                      fake_twilio: FakeTwilio) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_whatsapp_from": SENDER, "twilio_api_base_url": fake_twilio.base_url,
            "public_base_url": PUBLIC, "whatsapp_burst_window_s": 0.0,
            "whatsapp_typing_after_s": -1.0, "whatsapp_retry_base_s": 0.001,
            "whatsapp_retry_max_wait_s": 0.01, "whatsapp_send_attempts": 3,
        }
        values.update(overrides)
        return make_settings(**values)
    return build


def new_wa_id() -> str:
    return "49" + str(secrets.randbelow(10**10)).zfill(10)


def webhook_form(wa_id: str, body: str = "hello", **fields: str) -> dict[str, str]:
    """What Twilio posts for one WhatsApp message."""
    sid = "SM" + secrets.token_hex(16)
    form = {
        "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:+{wa_id}", "To": SENDER, "WaId": wa_id, "ProfileName": "Ana",
        "Body": body, "NumMedia": "0", "NumSegments": "1", "ReferralNumMedia": "0",
        "MessageType": "text", "SmsStatus": "received", "ApiVersion": "2010-04-01",
    }
    form.update(fields)
    return form


def sign(url: str, form: dict[str, str]) -> str:
    return str(RequestValidator(AUTH_TOKEN).compute_signature(url, form))


class WhatsAppWebhooks:
    """Posts (signed) Twilio webhooks to the app in-process."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, form: dict[str, str], *, path: str = "/webhooks/whatsapp",
                   signed_url: str | None = None, signature: str | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        url = signed_url or f"{PUBLIC}{path}"
        sig = signature if signature is not None else sign(url, form)
        all_headers = {"X-Twilio-Signature": sig} if sig else {}
        all_headers.update(headers or {})
        return await self.client.post(path, data=form, headers=all_headers)


@asynccontextmanager
async def webhooks_for(rt: Runtime) -> AsyncIterator[WhatsAppWebhooks]:
    app = create_app(rt.settings, runtime=rt)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://internal:8000",
                                 timeout=30) as client:
        yield WhatsAppWebhooks(client)
