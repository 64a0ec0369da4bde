"""Every route of the app, driven with hostile paths, headers, bodies and encodings,
signed in to the dashboard and not: never a 5xx, and nothing stored from a request the
server refused. The route list is checked against the app, so a new route joins here."""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Route

from bot.app import create_app
from tests.conftest import build_test_settings
from tests.fuzz.conftest import ADMIN_TOKEN, LiveBot

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60")) * 3
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

ROUTES = {
    ("POST", "/webhooks/whatsapp"), ("POST", "/webhooks/whatsapp/status"),
    ("POST", "/slack/events"), ("GET", "/"), ("POST", "/api/chat"),
    ("POST", "/api/chat/stream"), ("GET", "/api/sessions/{session_id}"),
    ("DELETE", "/api/sessions/{session_id}"), ("GET", "/api/sessions/{session_id}/events"),
    ("GET", "/admin/login"),
    ("POST", "/admin/login"), ("POST", "/admin/logout"), ("GET", "/admin"),
    ("GET", "/admin/handoffs"), ("GET", "/admin/conversations/{conversation_id}"),
    ("GET", "/admin/static/{name}"), ("GET", "/admin/api/conversations"),
    ("GET", "/admin/api/conversations/{conversation_id}"), ("GET", "/admin/api/handoffs"),
    ("POST", "/admin/api/handoffs/{handoff_id}/claim"),
    ("POST", "/admin/api/handoffs/{handoff_id}/reply"),
    ("POST", "/admin/api/handoffs/{handoff_id}/resolve"),
    ("POST", "/admin/api/handoffs/{handoff_id}/back"),
    ("GET", "/admin/api/stats/messages"), ("GET", "/admin/api/stats/intents"),
    ("GET", "/admin/api/stats/response-times"), ("GET", "/admin/api/stats/errors"),
    ("GET", "/admin/api/stats/costs"), ("GET", "/admin/api/stats/handoffs"),
    ("GET", "/healthz"), ("GET", "/metrics"),
}


def _walk(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in routes:
        included: Any = getattr(route, "original_router", None)  # FastAPI's lazy include
        if included is not None:
            context: Any = route.include_context
            found |= _walk(included.routes, prefix + context.prefix)
        elif isinstance(route, APIRoute | Route):
            found |= {(m, prefix + route.path) for m in route.methods or () if m != "HEAD"}
    return found


def test_the_fuzzed_routes_are_every_route_of_the_app(tmp_path: Any) -> None:
    app = create_app(build_test_settings(
        "postgresql://unused@127.0.0.1/unused", tmp_path, admin_token=ADMIN_TOKEN,
        twilio_account_sid="AC" + "0" * 32, twilio_auth_token="t" * 32,
        twilio_whatsapp_from="whatsapp:+15550000000", slack_signing_secret="s",
        slack_bot_token="xoxb-1", public_base_url="https://bot.example.com"))
    assert _walk(app.routes) == ROUTES


# Path segments an attacker tries: traversal, encodings, NUL, huge, non-ASCII, ids of the
# wrong shape, and well-formed ids of nothing.
SEGMENTS = (st.text(max_size=80)
            | st.sampled_from(["..", "../../etc/passwd", "%00", "%2e%2e%2f", "-1", "0",
                               "99999999999999999999999", "00000000-0000-0000-0000-000000000000",
                               "app.js", "app.html", "../app.html", "x" * 5000, "\u202e",
                               "' OR 1=1 --", "1; DROP TABLE app.messages"]))
BODIES = (st.binary(max_size=600)
          | st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                         | st.text(max_size=40),
                         lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.sampled_from(
                             ["text", "session_id", "user", "message_id", "payload", "staff",
                              "token", "nonce", "reply", "x"]), inner, max_size=5),
                         max_leaves=10).map(lambda v: json.dumps(v).encode())
          | st.just(b"[" * 2000 + b"]" * 2000)
          | st.just(b'{"text": "\\ud800", "session_id": "\\udfff"}')
          | st.just("staff=ma\u0000ria&token=\u00e9&nonce=%ff%fe".encode()))
HEADERS = st.dictionaries(st.sampled_from([
    "Content-Type", "Cookie", "Authorization", "X-Forwarded-For", "X-CSRF-Token",
    "Content-Encoding", "Accept", "Origin", "X-Twilio-Signature", "X-Slack-Signature",
    "X-Slack-Request-Timestamp", "Accept-Language"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
    | st.sampled_from(["application/json", "application/x-www-form-urlencoded; charset=utf-16",
                       "multipart/form-data; boundary=", "gzip", "text/plain; charset=latin1",
                       "admin_session=" + "A" * 400, "Bearer " + "x" * 300]),
    max_size=5)

STORED = ("SELECT (SELECT count(*) FROM app.messages) + (SELECT count(*) FROM app.contacts)"
          " + (SELECT count(*) FROM app.conversations) + (SELECT count(*) FROM app.sessions)"
          " + (SELECT count(*) FROM app.handoffs) + (SELECT count(*) FROM app.user_context)")


def stored(bot: LiveBot) -> int:
    with psycopg.connect(bot.db_url) as conn:
        row = conn.execute(STORED).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def signed_in(live_bot: LiveBot) -> dict[str, str]:
    """The headers of a staff member signed in to the dashboard (the cookie is Secure, as
    behind https, so it is sent by hand over the test's plain http)."""
    with httpx.Client(base_url=live_bot.url) as client:
        form = client.get("/admin/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
        assert nonce is not None
        login_cookie = "; ".join(f"{k}={v}" for k, v in form.cookies.items())
        done = client.post("/admin/login", headers={"Cookie": login_cookie}, data={
            "staff": "fuzz", "token": ADMIN_TOKEN, "nonce": nonce.group(1)})
        assert done.status_code == 303, done.text[:200]
        cookie = "; ".join(f"{k}={v}" for k, v in done.cookies.items())
        page = client.get("/admin", headers={"Cookie": cookie})
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf is not None
    return {"Cookie": cookie, "X-CSRF-Token": csrf.group(1)}


@FUZZ
@given(route=st.sampled_from(sorted(ROUTES)), segment=SEGMENTS, body=BODIES, headers=HEADERS,
       as_staff=st.booleans(), query=st.text(max_size=40))
def test_no_route_fails_or_stores_on_hostile_input(
    live_bot: LiveBot, signed_in: dict[str, str], route: tuple[str, str], segment: str,
    body: bytes, headers: dict[str, str], as_staff: bool, query: str,
) -> None:
    method, template = route
    path = re.sub(r"\{[^}]+\}", quote(segment, safe="") or "x", template)
    # Logging out revokes the session every other staff example shares (tested on its own
    # in tests/admin), so it is fuzzed signed out.
    staff = as_staff and template != "/admin/logout"
    sent = {**(signed_in if staff else {}), **headers}
    before = stored(live_bot)
    with httpx.Client(base_url=live_bot.url, timeout=30) as client:
        response = client.request(method, path + "?q=" + quote(query), content=body,
                                  headers=sent)
    assert response.status_code < 500, (method, path, response.text[:300])
    if response.status_code >= 400:
        assert stored(live_bot) == before, (method, path, response.status_code)
