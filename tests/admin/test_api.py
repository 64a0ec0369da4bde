"""The admin JSON API and login, over HTTP with httpx against the real app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from bot.app import create_app
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.settings import Settings
from tests.admin.conftest import AdminRuntime, csrf_of, log_in
from tests.conftest import RuntimeFactory, wait_for


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot.test")


async def audit_actions(db: Database, actor: str) -> list[str]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT action FROM app.audit_log WHERE actor = %s ORDER BY id",
                                 (actor,))
        return [r["action"] for r in await cur.fetchall()]


async def test_without_admin_token_there_is_no_dashboard(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with runtime_factory(settings=settings, worker=False) as rt:
        client = client_for(create_app(settings, runtime=rt))
        async with client:
            assert (await client.get("/admin")).status_code == 404
            assert (await client.get("/admin/login")).status_code == 404
            assert (await client.get("/admin/api/handoffs")).status_code == 404


async def test_login_sets_a_strict_httponly_cookie_and_wrong_tokens_are_refused_and_audited(
    admin_runtime: AdminRuntime, db: Database,
) -> None:
    async with admin_runtime(worker=False) as (_, app), client_for(app) as client:
        assert (await client.get("/admin/api/handoffs")).status_code == 401
        page = await client.get("/admin")
        assert page.status_code == 303 and page.headers["location"] == "/admin/login"
        bad = await log_in(client, staff="mallory", token="guess")
        assert bad.status_code == 401 and "not right" in bad.text
        assert (await client.get("/admin/api/handoffs")).status_code == 401
        # a login form not served by us (no matching nonce cookie) is refused
        forged = await client.post("/admin/login", data={"staff": "x", "token": "t",
                                                         "nonce": "forged"})
        assert forged.status_code == 403

        ok = await log_in(client, staff="maria")
        assert ok.status_code == 303 and ok.headers["location"] == "/admin"
        cookie = next(v for k, v in ok.headers.multi_items()
                      if k == "set-cookie" and v.startswith("bot_admin="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
        assert "admin-token" not in cookie
        page = await client.get("/admin")
        assert page.status_code == 200 and "maria" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        listed = await client.get("/admin/api/handoffs")
        assert listed.status_code == 200 and listed.headers["cache-control"] == "no-store"
        # a tampered cookie is no session
        tampered = client.cookies["bot_admin"][:-2] + "xx"
        stranger = await client.get("/admin/api/handoffs",
                                    headers={"Cookie": f"bot_admin={tampered}"})
        assert stranger.status_code == 401
    assert await audit_actions(db, "admin:mallory") == ["admin:login_failed"]
    assert await audit_actions(db, "admin:maria") == ["admin:login"]


async def test_conversations_transcript_and_charts_show_a_real_conversation(
    admin_runtime: AdminRuntime, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    async with admin_runtime() as (rt, app), client_for(app) as client:
        first = inbound(text="hello there", sender_id="+15551234567", display_name="Ana")
        r = await rt.ingest(first)

        def answered(n: int) -> Callable[[], Any]:
            async def check() -> bool:
                async with db.as_user(r.contact_id) as conn:
                    cur = await conn.execute("SELECT count(*) AS n FROM app.messages WHERE"
                                             " conversation_id = %s AND direction = 'out'",
                                             (r.conversation_id,))
                    row = await cur.fetchone()
                    return row is not None and row["n"] >= n
            return check
        await wait_for(answered(1))
        await rt.ingest(inbound(text="when is yoga?", sender_id=first.sender_id,
                                conversation_key=first.conversation_key))
        await wait_for(answered(2))
        await log_in(client, staff="transcript reader")

        listed = (await client.get("/admin/api/conversations?range=1h")).json()
        mine = next(c for c in listed if c["id"] == str(r.conversation_id))
        assert mine["channel"] == "web" and mine["last_intent"] == "class_schedule"
        assert "+***67" in mine["contact"] and "5551234567" not in str(listed)

        t = (await client.get(f"/admin/api/conversations/{r.conversation_id}")).json()
        intents = [m["intent"] for m in t["messages"] if m["direction"] == "in"]
        assert intents == ["greeting", "class_schedule"]
        assert [m["direction"] for m in t["messages"]] == ["in", "out", "in", "out"]
        assert (t["tool_calls"], t["llm_calls"], t["cost_usd"]) == ([], [], 0)  # no agent here
        assert (await client.get("/admin/api/conversations/"
                                 "00000000-0000-0000-0000-000000000000")).status_code == 404

        messages = (await client.get("/admin/api/stats/messages?range=1h")).json()
        web = next(s for s in messages["series"] if s["name"] == "web")
        assert sum(web["values"]) >= 2 and len(web["values"]) == len(messages["labels"])
        assert messages["bucket"] == "5 min"
        timing = (await client.get("/admin/api/stats/response-times?range=24h")).json()
        assert timing["summary"]["p50"] is not None and timing["summary"]["replies"] >= 2
        assert timing["bucket"] == "hour"
        intent_counts = (await client.get("/admin/api/stats/intents?range=1h")).json()
        assert {"greeting", "class_schedule"} <= {b["name"] for b in intent_counts["items"]}
        costs = (await client.get("/admin/api/stats/costs?range=7d")).json()
        assert costs["limit"] == rt.settings.llm_daily_cost_cap_usd and costs["bucket"] == "day"
        errors = (await client.get("/admin/api/stats/errors?range=7d")).json()
        assert [s["name"] for s in errors["series"]][:3] == ["turn failed", "delivery failed",
                                                             "rate limited"]
        assert (await client.get("/admin/api/stats/handoffs?range=24h")).status_code == 200
        bad = await client.get("/admin/api/stats/messages?range=custom&start=2026-01-02T00:00:00Z")
        assert bad.status_code == 422
        custom = await client.get("/admin/api/stats/messages?range=custom"
                                  "&start=2026-01-01T00:00:00Z&end=2026-01-20T00:00:00Z")
        assert custom.json()["bucket"] == "day" and len(custom.json()["labels"]) == 19
    assert await audit_actions(db, "admin:transcript reader") == ["admin:login",
                                                                  "admin:view_conversation"]


async def test_handoff_actions_need_the_csrf_token_and_go_through_the_handoff_service(
    admin_runtime: AdminRuntime, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    async with admin_runtime() as (rt, app), client_for(app) as client:
        r = await rt.ingest(inbound(text="I need a person"))

        async def waiting() -> bool:
            return await rt.handoffs.open_handoff(r.conversation_id) is not None
        await wait_for(waiting)
        await log_in(client, staff="li")
        csrf = csrf_of((await client.get("/admin/handoffs")).text)
        [item] = [h for h in (await client.get("/admin/api/handoffs")).json()
                  if h["conversation_id"] == str(r.conversation_id)]
        assert item["status"] == "waiting" and item["waiting_s"] >= 0

        no_csrf = await client.post(f"/admin/api/handoffs/{item['id']}/claim")
        assert no_csrf.status_code == 403
        claimed = await client.post(f"/admin/api/handoffs/{item['id']}/claim",
                                    headers={"X-CSRF-Token": csrf})
        assert claimed.json() == {"ok": True, "text": "Claimed by li.", "status": "claimed"}
        again = await client.post(f"/admin/api/handoffs/{item['id']}/claim",
                                  headers={"X-CSRF-Token": csrf})
        assert again.json()["ok"] is False
        sent = await client.post(f"/admin/api/handoffs/{item['id']}/reply",
                                 headers={"X-CSRF-Token": csrf}, json={"text": "Hi, Li here."})
        assert sent.json()["ok"] is True
        done = await client.post(f"/admin/api/handoffs/{item['id']}/resolve",
                                 headers={"X-CSRF-Token": csrf})
        assert done.json()["status"] == "resolved"
        still_open = (await client.get("/admin/api/handoffs")).json()
        assert item["id"] not in [h["id"] for h in still_open]
        times = (await client.get("/admin/api/stats/handoffs?range=1h")).json()
        assert times["summary"]["claimed"] >= 1 and times["summary"]["resolve_p50"] is not None

        async def staff_reply_stored() -> bool:
            async with db.as_system() as conn:
                cur = await conn.execute("SELECT author FROM app.messages WHERE conversation_id"
                                         " = %s AND author = 'li'", (r.conversation_id,))
                return await cur.fetchone() is not None
        await wait_for(staff_reply_stored)
    assert await audit_actions(db, "staff:li") == ["handoff:claim", "handoff:reply",
                                                   "handoff:resolved"]


async def test_the_admin_api_is_in_the_openapi_schema(admin_runtime: AdminRuntime) -> None:
    async with admin_runtime(worker=False, api_docs=True) as (_, app), \
            client_for(app) as client:
        schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in ("/admin/api/conversations", "/admin/api/conversations/{conversation_id}",
                 "/admin/api/handoffs", "/admin/api/handoffs/{handoff_id}/claim",
                 "/admin/api/stats/messages", "/admin/api/stats/costs"):
        assert path in paths, path
    assert {"Transcript", "Chart", "HandoffItem", "ConversationSummary"} <= set(
        schema["components"]["schemas"])
    assert "/admin/login" not in paths


async def test_guessing_the_token_is_throttled(admin_runtime: AdminRuntime) -> None:
    limited = admin_runtime(worker=False, admin_login_rate_limit="2/minute")
    async with limited as (_, app), client_for(app) as client:
        codes = [(await log_in(client, staff="guesser", token=f"guess-{n}")).status_code
                 for n in range(3)]
        assert codes == [401, 401, 429]
        # the right token is throttled as well until the window passes
        assert (await log_in(client, staff="guesser")).status_code == 429


async def test_guesses_from_many_addresses_still_count_against_the_name(
    admin_runtime: AdminRuntime,
) -> None:
    limited = admin_runtime(worker=False, admin_login_rate_limit="2/minute")
    async with limited as (_, app):
        codes = []
        for n in range(3):  # a new address each time
            transport = httpx.ASGITransport(app=app, client=(f"203.0.113.{n}", 5000))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://bot.test") as client:
                codes.append((await log_in(client, staff="Maria",
                                           token=f"guess-{n}")).status_code)
            if n == 1:  # the same name in another case is the same name
                transport = httpx.ASGITransport(app=app, client=("203.0.113.99", 5000))
                async with httpx.AsyncClient(transport=transport,
                                             base_url="http://bot.test") as client:
                    codes.append((await log_in(client, staff="MARIA")).status_code)
    assert codes == [401, 401, 429, 429]


async def test_the_cookie_is_secure_behind_https(admin_runtime: AdminRuntime) -> None:
    async with admin_runtime(worker=False, public_base_url="https://bot.example.com") as (
            _, app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                       base_url="https://bot.example.com") as client:
        ok = await log_in(client, staff="maria")
    assert ok.status_code == 303
    cookie = next(v for k, v in ok.headers.multi_items()
                  if k == "set-cookie" and v.startswith("bot_admin="))
    assert "Secure" in cookie


async def test_logging_out_revokes_the_session_even_for_a_copied_cookie(
    admin_runtime: AdminRuntime,
) -> None:
    async with admin_runtime(worker=False) as (_, app), client_for(app) as client:
        assert (await log_in(client, staff="maria")).status_code == 303
        page = await client.get("/admin")
        copied = client.cookies["bot_admin"]  # as someone who got hold of the cookie
        assert (await client.get("/admin/api/handoffs")).status_code == 200
        out = await client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        replayed = {"Cookie": f"bot_admin={copied}"}
        assert (await client.get("/admin/api/handoffs", headers=replayed)).status_code == 401
        again = await client.get("/admin", headers=replayed)
        assert again.status_code == 303 and again.headers["location"] == "/admin/login"
        # a new login works
        assert (await log_in(client, staff="maria")).status_code == 303
        assert (await client.get("/admin/api/handoffs")).status_code == 200
