"""Slack installations in PostgreSQL: bolt's store contract, one-time OAuth states,
tokens out of reach of the `authenticated` role, and the whole install flow."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation

from adapters.slack.store import PostgresInstallationStore, PostgresOAuthStateStore
from bot.app import create_app
from bot.db.pool import Database
from testing.slack_api import FakeSlackApi, serve_fake_slack
from tests.adapters.slack.requests import SIGNING_SECRET, event_body, mention, signed_headers
from tests.conftest import RuntimeFactory, wait_for


def installation(team: str, user: str = "U1", token: str = "xoxb-1") -> Installation:
    return Installation(app_id="A1", enterprise_id=None, team_id=team, team_name="Team",
                        bot_token=token, bot_id="B1", bot_user_id="UBOT", bot_scopes=["chat:write"],
                        user_id=user, user_token="xoxp-user", installed_at=datetime.now(UTC))


async def test_installations_round_trip_and_latest_wins(db: Database) -> None:
    team = "T" + uuid4().hex[:8]
    store = PostgresInstallationStore(db, "client-1")
    await store.async_save(installation(team, token="xoxb-old"))
    await store.async_save(installation(team, user="U2", token="xoxb-new"))
    bot = await store.async_find_bot(enterprise_id=None, team_id=team)
    assert bot is not None and bot.bot_token == "xoxb-new" and bot.bot_user_id == "UBOT"
    found = await store.async_find_installation(enterprise_id=None, team_id=team, user_id="U1")
    assert found is not None and found.bot_token == "xoxb-old" and found.user_token == "xoxp-user"
    other_client = PostgresInstallationStore(db, "client-2")
    assert await other_client.async_find_bot(enterprise_id=None, team_id=team) is None
    await store.async_delete_all(enterprise_id=None, team_id=team)
    assert await store.async_find_bot(enterprise_id=None, team_id=team) is None


async def test_oauth_states_are_good_once(db: Database) -> None:
    states = PostgresOAuthStateStore(db, expiration_s=600)
    state = await states.async_issue()
    assert await states.async_consume(state) is True
    assert await states.async_consume(state) is False
    expired = await PostgresOAuthStateStore(db, expiration_s=-1).async_issue()
    assert await states.async_consume(expired) is False


@pytest.mark.parametrize("sql", [
    "SELECT * FROM app.slack_installations",
    "SELECT app.slack_find_installation('client-1', NULL, 'T1', NULL, true)",
    "SELECT * FROM app.slack_oauth_states",
    "SELECT app.contact_display_name('slack', 'T1:U1')",
    "SELECT app.slack_thread_known('T1:C1:1.0')",
])
async def test_authenticated_cannot_reach_tokens(db: Database, sql: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(uuid4()) as conn:
            await conn.execute(sql)


@pytest.fixture
async def oauth_app(runtime_factory: RuntimeFactory, make_settings: Any
                    ) -> AsyncIterator[tuple[FakeSlackApi, httpx.AsyncClient]]:
    async with serve_fake_slack() as fake:
        settings = make_settings(slack_signing_secret=SIGNING_SECRET, slack_client_id="111.222",
                                 slack_client_secret="client-secret",
                                 slack_api_base_url=fake.url, slack_post_interval_s=0.0)
        async with runtime_factory(settings=settings) as rt:
            transport = httpx.ASGITransport(app=create_app(rt.settings, runtime=rt))
            async with httpx.AsyncClient(transport=transport, base_url="https://test",
                                         timeout=30) as client:
                yield fake, client


async def installed(db: Database, team: str, token: str) -> PostgresInstallationStore:
    """The store, with the workspace installed in it."""
    store = PostgresInstallationStore(db, "111.222")
    await store.async_save(installation(team, token=token))
    return store


async def post_event(client: httpx.AsyncClient, event: dict[str, Any], *, event_id: str,
                     team: str) -> None:
    """A signed event of a workspace, acknowledged."""
    body = event_body(event, event_id=event_id, team=team)
    res = await client.post("/slack/events", content=body, headers=signed_headers(body))
    assert res.status_code == 200


async def test_install_flow_stores_the_workspace_and_its_events_are_answered(
    oauth_app: tuple[FakeSlackApi, httpx.AsyncClient],
) -> None:
    fake, client = oauth_app
    page = await client.get("/slack/install")
    assert page.status_code == 200
    state = re.search(r"state=([A-Za-z0-9_-]+)", page.text)
    assert state is not None and "client_id=111.222" in page.text
    done = await client.get("/slack/oauth_redirect",
                            params={"code": "the-code", "state": state.group(1)})
    assert done.status_code == 200, done.text
    assert fake.of("oauth.v2.access")
    replay = await client.get("/slack/oauth_redirect",
                              params={"code": "the-code", "state": state.group(1)})
    assert replay.status_code != 200, "a state is good once"

    await post_event(client, mention("1700000500.000001"), event_id="EvO1", team="T9")

    async def answered() -> bool:
        return any(c.args.get("thread_ts") == "1700000500.000001"
                   for c in fake.of("chat.postMessage"))
    await wait_for(answered)
    posts = [c for c in fake.of("chat.postMessage")]
    assert {p.token for p in posts} == {"xoxb-installed"}, "the workspace's own bot token"


async def test_a_workspaces_tokens_are_checked_with_auth_test_once_not_per_event(
    oauth_app: tuple[FakeSlackApi, httpx.AsyncClient], db: Database,
) -> None:
    fake, client = oauth_app
    await installed(db, "T8", "xoxb-t8")
    before = len(fake.of("auth.test"))
    for n in range(3):
        await post_event(client, mention(f"17000006{n:02d}.000001"), event_id=f"EvA{n}",
                         team="T8")
    checked = {c.token for c in fake.of("auth.test")[before:]}
    assert len(fake.of("auth.test")) - before == len(checked), "each token once, not per event"
    assert "xoxb-t8" in checked


async def test_uninstalling_deletes_the_workspace_tokens(
    oauth_app: tuple[FakeSlackApi, httpx.AsyncClient], db: Database,
) -> None:
    _, client = oauth_app
    store = await installed(db, "T7", "xoxb-t7")
    await post_event(client, {"type": "app_uninstalled", "event_ts": "1.0"}, event_id="EvU1",
                     team="T7")
    assert await store.async_find_bot(enterprise_id=None, team_id="T7") is None
