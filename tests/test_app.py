"""The app factory: how the channels' routes are laid out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.routing import APIRoute
from starlette.routing import Route

from bot.app import create_app
from bot.settings import Settings
from tests.adapters.slack.requests import SIGNING_SECRET, event_body, message, signed_headers
from tests.conftest import RuntimeFactory

PLAIN_FIRST = ["/webhooks/whatsapp", "/webhooks/whatsapp/status", "/slack/events"]


def channel_settings(make_settings: Callable[..., Settings], **overrides: Any) -> Settings:
    return make_settings(
        twilio_account_sid="AC" + "1" * 32, twilio_auth_token="token-0123456789",
        twilio_whatsapp_from="whatsapp:+14155238886", public_base_url="https://bot.example.com",
        slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test",
        slack_api_base_url="http://127.0.0.1:9/api/", **overrides)


async def test_webhooks_are_matched_before_every_other_route(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    async with runtime_factory(settings=channel_settings(make_settings), worker=False) as rt:
        app = create_app(rt.settings, runtime=rt)
        first = app.router.routes[:len(PLAIN_FIRST)]
        assert sorted(r.path for r in first if isinstance(r, Route)) == sorted(PLAIN_FIRST)
        assert not any(isinstance(r, APIRoute) for r in first)
        schema_paths = app.openapi()["paths"]
        assert "/api/chat" in schema_paths and "/healthz" in schema_paths
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200
            unsigned = await client.post("/webhooks/whatsapp", data={"Body": "hi"})
            # GET is not a webhook: the route answers 405, not another route's page
            wrong_method = await client.get("/slack/events")
            body = event_body(message("1700000000.000001"), event_id="EvA")
            stale = await client.post("/slack/events", content=body,
                                      headers=signed_headers(body, timestamp=1))
    assert unsigned.status_code == 403
    assert wrong_method.status_code == 405
    assert stale.status_code == 401, "bolt refuses what the direct path leaves to it"
