"""The Slack alerts notifier, through the real slack-sdk client against a loopback fake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.db.pool import Database
from bot.hooks import HookEvent
from bot.hooks.build import build_hooks
from bot.observability import Metrics
from bot.settings import Settings
from testing.loopback import serve


def fake_slack(statuses: list[int]) -> tuple[FastAPI, list[dict[str, Any]]]:
    app = FastAPI()
    posted: list[dict[str, Any]] = []

    @app.post("/api/chat.postMessage")
    async def post_message(request: Request) -> JSONResponse:
        form = await request.form() if "form" in request.headers.get("content-type", "") else {}
        body = dict(form) or await request.json()
        posted.append({"body": body, "auth": request.headers.get("authorization")})
        status = statuses.pop(0) if statuses else 200
        if status != 200:
            return JSONResponse({"ok": False, "error": "service_unavailable"}, status_code=status)
        return JSONResponse({"ok": True, "channel": body.get("channel"), "ts": "1700000000.1"})

    return app, posted


async def test_events_are_posted_to_the_alerts_channel_with_retries(
    make_settings: Callable[..., Settings], db: Database,
) -> None:
    app, posted = fake_slack([503])
    async with serve(app) as base:
        settings = make_settings(slack_bot_token="xoxb-test-token", slack_alerts_channel="#ops",
                                 slack_api_base_url=f"{base}/api/", hook_retry_initial_s=0.01)
        hooks = build_hooks(settings, Metrics(), db)
        [sink] = hooks.sinks
        event = HookEvent(type="handoff.created", data={"trigger": "user_request"})
        assert await hooks.deliver(event, sink)
        await hooks.stop()
    assert len(posted) == 2
    assert posted[-1]["body"]["channel"] == "#ops"
    assert "handoff.created" in posted[-1]["body"]["text"]
    assert posted[-1]["auth"] == "Bearer xoxb-test-token"


def test_an_alerts_channel_needs_the_bot_token(make_settings: Callable[..., Settings]) -> None:
    import pytest

    with pytest.raises(ValueError, match="SLACK_BOT_TOKEN"):
        make_settings(slack_alerts_channel="#ops")
    with pytest.raises(ValueError, match="HOOK_SECRET"):
        make_settings(hook_urls="http://127.0.0.1:9/hook")
