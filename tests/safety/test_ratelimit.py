"""Rate limits: windows under controlled time, the single polite notice, HTTP 429."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from freezegun import freeze_time

from bot.app import create_app
from bot.db.pool import Database
from bot.models import InboundMessage
from bot.safety.ratelimit import RateLimits
from bot.settings import Settings
from tests.conftest import RuntimeFactory, wait_for


async def test_user_window_with_controlled_time(make_settings: Callable[..., Settings]) -> None:
    limits = RateLimits(make_settings(rate_limit_user="3/minute"))
    with freeze_time("2026-05-01 10:00:00", real_asyncio=True) as clock:
        results = [await limits.check_message("alice", "s1", "web") for _ in range(5)]
        assert [r.allowed for r in results] == [True, True, True, False, False]
        assert [r.notify for r in results[3:]] == [True, False]  # one notice per window
        assert results[3].scope == "user" and 1 <= results[3].retry_after_s <= 60
        assert (await limits.check_message("bob", "s2", "web")).allowed  # others unaffected
        clock.tick(61)
        later = [await limits.check_message("alice", "s1", "web") for _ in range(5)]
        assert [r.allowed for r in later] == [True, True, True, False, False]
        assert [r.notify for r in later[3:]] == [True, False]  # a new window, a new notice


async def test_ip_limit_gives_retry_after(make_settings: Callable[..., Settings]) -> None:
    limits = RateLimits(make_settings(rate_limit_ip="2/minute"))
    with freeze_time("2026-05-01 10:00:00", real_asyncio=True):
        assert (await limits.check_ip("10.0.0.1")).allowed
        assert (await limits.check_ip("10.0.0.1")).allowed
        refused = await limits.check_ip("10.0.0.1")
    assert not refused.allowed and refused.scope == "ip" and refused.retry_after_s == 60


async def test_messaging_user_over_limit_gets_one_polite_reply_and_no_more(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    settings = make_settings(rate_limit_user="2/minute")
    async with runtime_factory(settings=settings) as rt:
        first = inbound(text="m0")
        results = [await rt.ingest(first)]
        for i in range(1, 5):
            results.append(await rt.ingest(inbound(
                text=f"m{i}", sender_id=first.sender_id, conversation_key=first.conversation_key)))
        contact, conversation = results[0].contact_id, results[0].conversation_id

        async def statuses() -> list[str]:
            async with db.as_user(contact) as conn:
                cur = await conn.execute(
                    "SELECT status FROM app.messages WHERE conversation_id = %s"
                    " AND direction = 'in' ORDER BY id", (conversation,))
                return [r["status"] for r in await cur.fetchall()]

        async def settled() -> bool:
            return "received" not in await statuses()
        await wait_for(settled, timeout=30)
        async with db.as_user(contact) as conn:
            cur = await conn.execute(
                "SELECT text FROM app.messages WHERE conversation_id = %s AND direction = 'out'"
                " ORDER BY id", (conversation,))
            replies = [r["text"] for r in await cur.fetchall()]
    assert await statuses() == ["answered", "answered", "answered", "skipped", "skipped"]
    assert len(replies) == 3
    assert "faster than I can answer" in replies[2]
    assert "rate_limited" in (await _metrics(rt.metrics.registry))


async def _metrics(registry: object) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()  # type: ignore[arg-type]


async def test_http_chat_api_answers_429_with_retry_after(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rate_limit_ip="2/minute")
    async with runtime_factory(settings=settings) as rt:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=rt),
                                        client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as c:
            codes = [(await c.post("/api/chat", json={"text": f"hi {i}"})) for i in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].headers["retry-after"].isdigit()
    body = codes[2].json()
    assert body["retryAfter"] == int(codes[2].headers["retry-after"]) and body["error"]




async def test_each_channel_has_its_own_ceiling(make_settings: Callable[..., Settings]) -> None:
    limits = RateLimits(make_settings(rate_limit_global="3/minute", rate_limit_user="100/minute"))
    with freeze_time("2026-05-01 10:00:00", real_asyncio=True):
        web = [await limits.check_message(f"visitor-{n}", f"s{n}", "web") for n in range(5)]
        assert [d.allowed for d in web] == [True, True, True, False, False]
        assert web[3].scope == "global"
        assert (await limits.check_message("customer", "s-wa", "whatsapp")).allowed
        assert (await limits.check_message("colleague", "s-sl", "slack")).allowed


async def test_a_web_flood_never_reaches_a_whatsapp_customer(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
    inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    # every web message from a new visitor (what rotating identities look like)
    settings = make_settings(rate_limit_global="3/minute", rate_limit_user="100/minute")
    async with runtime_factory(settings=settings) as rt:
        flood = [await rt.ingest(inbound(text=f"flood {n}")) for n in range(6)]

        async def flood_handled() -> bool:
            async with db.as_system() as conn:
                cur = await conn.execute(
                    "SELECT count(*) AS n FROM app.messages WHERE id = ANY(%s)"
                    " AND status <> 'received'", ([r.message_id for r in flood],))
                row = await cur.fetchone()
            return row is not None and row["n"] == len(flood)
        await wait_for(flood_handled, timeout=30)  # the web's ceiling is reached first
        customer = await rt.ingest(inbound(channel="whatsapp", text="hello",
                                           sender_id="4915112345678",
                                           conversation_key="4915112345678"))

        async def reply() -> list[str]:
            async with db.as_user(customer.contact_id) as conn:
                cur = await conn.execute(
                    "SELECT text FROM app.messages WHERE conversation_id = %s"
                    " AND direction = 'out'", (customer.conversation_id,))
                return [r["text"] for r in await cur.fetchall()]

        async def answered() -> bool:
            return bool(await reply())
        await wait_for(answered, timeout=30)
        texts = await reply()
    assert len(texts) == 1 and "faster than I can answer" not in texts[0], texts


async def test_forwarded_addresses_count_only_from_trusted_proxies(
    runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    """A client rotating X-Forwarded-For gets no fresh bucket unless its peer is a proxy
    listed in TRUSTED_PROXIES (then the address the proxy gives is the client's)."""
    for trusted, expected in (([], [200, 200, 429, 429]), (["127.0.0.1"], [200] * 4)):
        settings = make_settings(rate_limit_ip="2/minute", trusted_proxies=trusted)
        async with runtime_factory(settings=settings, worker=False) as rt:
            transport = httpx.ASGITransport(app=create_app(settings, runtime=rt),
                                            client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                         timeout=30) as client:
                codes = [(await client.post(
                    "/api/chat", json={"text": f"hi {n}"},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code
                    for n in range(4)]
        assert codes == expected, (trusted, codes)


async def test_the_defaults_let_a_person_tap_through_menus_and_an_office_share_an_address(
    make_settings: Callable[..., Settings],
) -> None:
    defaults = Settings.model_fields
    limits = RateLimits(make_settings(**{name: defaults[name].default for name in (
        "rate_limit_user", "rate_limit_session", "rate_limit_ip", "rate_limit_global")}))
    with freeze_time("2026-05-01 10:00:00", real_asyncio=True):
        taps = [await limits.check_message("tapper", "s-tap", "whatsapp") for _ in range(15)]
        office = [await limits.check_ip("198.51.100.7") for _ in range(60)]
        script = [await limits.check_message("script", "s-bot", "web") for _ in range(40)]
    assert all(d.allowed for d in taps), "15 taps in a minute"
    assert all(d.allowed for d in office), "an office of people behind one address"
    assert not all(d.allowed for d in script), "a script sending 40 a minute is stopped"
