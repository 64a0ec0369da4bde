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


async def test_api_docs_are_off_unless_asked_for(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    for docs, expected in ((False, 404), (True, 200)):
        settings = make_settings(api_docs=docs)
        async with runtime_factory(settings=settings, worker=False) as rt:
            transport = httpx.ASGITransport(app=create_app(settings, runtime=rt))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                codes = [(await client.get(p)).status_code
                         for p in ("/docs", "/redoc", "/openapi.json")]
        assert codes == [expected] * 3, (docs, codes)


async def test_metrics_behind_a_token_when_one_is_set(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(metrics_token="metrics-token-0123456789")
    async with runtime_factory(settings=settings, worker=False) as rt:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            anonymous = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
            right = await client.get("/metrics", headers={
                "authorization": "Bearer metrics-token-0123456789"})
    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "bot_turns_total" in right.text


async def test_the_dashboard_says_how_to_turn_it_on(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with runtime_factory(settings=settings, worker=False) as rt:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.get("/admin")
    assert answer.status_code == 404 and "set ADMIN_TOKEN" in answer.text
