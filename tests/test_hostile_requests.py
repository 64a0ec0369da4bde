"""Hostile requests get a 4xx, never a 500, and store nothing they should not.

Each case here once answered 500 with a traceback, or stored what it should not
(issue: least privilege and hostile input)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import Settings
from testing.slack_api import serve_fake_slack
from tests.adapters.slack.requests import SIGNING_SECRET, event_body, message, signed_headers
from tests.admin.conftest import ADMIN_TOKEN
from tests.conftest import RuntimeFactory

NESTED = "[" * 1000 + "]" * 1000


@pytest.fixture
async def app_and_runtime(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with serve_fake_slack() as slack:
        settings = make_settings(slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-t",
                                 slack_api_base_url=slack.url, admin_token=ADMIN_TOKEN)
        async with runtime_factory(settings=settings, worker=False) as rt:
            transport = httpx.ASGITransport(app=create_app(settings, runtime=rt),
                                            raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client, rt


async def stored_slack(rt: Runtime, channel: str) -> list[str]:
    async with rt.db.as_system() as conn:
        cur = await conn.execute("SELECT text FROM app.messages WHERE channel = 'slack'"
                                 " AND external_id LIKE %s", (f"T1:{channel}:%",))
        return [r["text"] for r in await cur.fetchall()]


@pytest.mark.parametrize("signed", [False, True])
async def test_deeply_nested_json_to_slack_is_a_400(
    app_and_runtime: tuple[httpx.AsyncClient, Runtime], signed: bool,
) -> None:
    client, _ = app_and_runtime
    headers = signed_headers(NESTED) if signed else {"content-type": "application/json"}
    answer = await client.post("/slack/events", content=NESTED, headers=headers)
    # unsigned: refused before it is read as JSON; signed: malformed
    assert answer.status_code == (400 if signed else 401), answer.text


@pytest.mark.parametrize("timestamp", ["gzip", "", "12.5", "-1", "1e9"])
async def test_a_slack_timestamp_that_is_not_a_number_is_a_401(
    app_and_runtime: tuple[httpx.AsyncClient, Runtime], timestamp: str,
) -> None:
    """slack_sdk's verifier raised on int() of it, which bolt answered with a 500
    (found by tests/fuzz/test_every_route.py)."""
    client, _ = app_and_runtime
    signed = {k.lower(): v for k, v in signed_headers(b"{}").items()}
    alone = {**signed, "x-slack-request-timestamp": timestamp}
    assert (await client.post("/slack/events", content=b"{}",
                              headers=alone)).status_code == 401
    # the same header twice, a good value and a bad one
    twice = [*signed.items(), ("x-slack-request-timestamp", timestamp)]
    assert (await client.post("/slack/events", content=b"{}",
                              headers=twice)).status_code == 401


async def test_a_lone_surrogate_in_the_chat_api_is_a_422(
    app_and_runtime: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = app_and_runtime
    answer = await client.post("/api/chat", content='{"text": "hi \\ud800"}',
                               headers={"content-type": "application/json"})
    assert answer.status_code == 422


async def test_a_422_echoes_only_an_excerpt_of_the_input(
    app_and_runtime: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = app_and_runtime
    answer = await client.post("/api/chat", json={"text": ["x" * 100_000]})
    assert answer.status_code == 422
    assert len(answer.content) < 1_000 and "x" * 100 in answer.text


async def test_slack_fields_of_the_wrong_type_are_not_a_conversation(
    app_and_runtime: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, rt = app_and_runtime
    no_text = message("1700000000.000300", text=None, channel="DNOTEXT", channel_type="im")
    odd = message("1700000000.000400", text="hi", channel_type="im")
    odd["channel"] = {"a": 1}
    files = message("1700000000.000500", text="see", channel="DFILES", channel_type="im",
                    files={"not": "a list"})
    for n, event in enumerate((no_text, odd, files)):
        body = event_body(event, event_id=f"EvOdd{n}")
        assert (await client.post("/slack/events", content=body,
                                  headers=signed_headers(body))).status_code == 200
    assert await stored_slack(rt, "DNOTEXT") == [""], "null text is no text, not 'None'"
    assert await stored_slack(rt, "DFILES") == ["see"]
    async with rt.db.as_system() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.messages WHERE channel ="
                                 " 'slack' AND external_id LIKE %s", ("T1:{%",))
        row = await cur.fetchone()
    assert row is not None and row["n"] == 0


async def test_a_non_ascii_login_nonce_is_refused_not_a_500(
    app_and_runtime: tuple[httpx.AsyncClient, Runtime],
) -> None:
    client, _ = app_and_runtime
    form = await client.get("/admin/login")  # sets the login cookie the nonce must match
    assert form.status_code == 200
    answer = await client.post("/admin/login", data={"staff": "x", "token": "t",
                                                      "nonce": "é" * 8})
    assert answer.status_code == 403

