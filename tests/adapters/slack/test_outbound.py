"""Slack outbound through the real slack-sdk client against the fake Web API:
threads, Block Kit, placeholders, assistant status, streaming, pacing and 429s."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import pytest

from adapters.slack.events import parse_key
from adapters.slack.format import MAX_BLOCKS
from adapters.slack.outbound import SlackOutbound, web_client
from bot.models import Option, OutboundReply, PendingDelivery, QuickReplies
from bot.settings import Settings
from testing.slack_api import FakeSlackApi, serve_fake_slack
from tests.conftest import wait_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    async with serve_fake_slack() as api:
        yield api


OutboundFactory = Callable[..., SlackOutbound]


@pytest.fixture
def outbound(fake: FakeSlackApi) -> OutboundFactory:
    def build(**overrides: Any) -> SlackOutbound:
        values: dict[str, Any] = {"slack_api_base_url": fake.url, "slack_post_interval_s": 0.0,
                                  "slack_rate_limit_retries": 2} | overrides
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        client = web_client(settings, "xoxb-test")

        async def client_for(team: str) -> Any:
            return client
        return SlackOutbound(settings, client_for)
    return build


def delivery(reply: OutboundReply | str, *, key: str = "T1:C1:100.000001", id: int = 1,
             reply_to: int | None = None) -> PendingDelivery:
    if isinstance(reply, str):
        reply = OutboundReply(text=reply)
    return PendingDelivery(id=id, conversation_id=UUID(int=1), channel="slack",
                           conversation_key=key, recipient="T1:U1",
                           reply=reply, reply_to=reply_to, reply_to_external_id=None,
                           status="pending", attempts=0)


async def test_reply_goes_into_the_thread_with_blocks_and_fallback_text(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    reply = OutboundReply(text="Hello **there**", parts=[QuickReplies(options=[
        Option(title="Yes", payload="y"), Option(title="No", payload="n")])])
    result = await outbound().send(delivery(reply))
    assert result.status == "sent"
    (post,) = fake.of("chat.postMessage")
    assert post.args["channel"] == "C1" and post.args["thread_ts"] == "100.000001"
    assert post.args["text"].startswith("Hello *there*")
    assert [b["type"] for b in post.args["blocks"]] == ["section", "actions"]
    assert post.token == "xoxb-test"
    assert result.external_id == f"C1:{post.result['ts']}"


async def test_a_very_long_reply_is_several_messages_in_order(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    text = "\n\n".join(f"part {n} " + "w" * 2800 for n in range(60))
    assert (await outbound().send(delivery(text))).status == "sent"
    posts = fake.of("chat.postMessage")
    assert len(posts) == 2 and all(len(p.args["blocks"]) <= MAX_BLOCKS for p in posts)
    assert "part 0 " in posts[0].args["blocks"][0]["text"]["text"]
    assert "part 59 " in posts[1].args["blocks"][-1]["text"]["text"]


async def test_placeholder_is_posted_then_replaced_by_the_answer(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    out = outbound()
    out.start_turn(7, parse_key("T1:C1:100.000001"), "T1:U1")
    out.turn_event(7, "status", {"text": "thinking"})
    out.turn_event(7, "text_delta", {"text": "ignored without streaming"})

    async def placeholder_posted() -> bool:
        return len(fake.of("chat.postMessage")) == 1
    await wait_for(placeholder_posted)
    result = await out.send(delivery("The answer", reply_to=7))
    assert result.status == "sent"
    (placeholder,) = fake.of("chat.postMessage")
    assert placeholder.args["text"] == "_thinking…_"
    assert placeholder.args["thread_ts"] == "100.000001"
    (update,) = fake.of("chat.update")
    assert update.args["ts"] == placeholder.result["ts"] and update.args["text"] == "The answer"
    assert not out.knows(7)


async def test_assistant_threads_get_a_status_instead_of_a_placeholder(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    fake.assistant_threads = True
    out = outbound()
    out.start_turn(8, parse_key("T1:D1:200.000001"), "T1:U1")
    out.turn_event(8, "status", {"text": "thinking"})

    async def status_set() -> bool:
        return bool(fake.of("assistant.threads.setStatus"))
    await wait_for(status_set)
    assert (await out.send(delivery("Done", key="T1:D1:200.000001", reply_to=8))).status == "sent"
    (status,) = fake.of("assistant.threads.setStatus")
    assert status.args == {"channel_id": "D1", "thread_ts": "200.000001",
                           "status": "is thinking…"}
    (post,) = fake.of("chat.postMessage")
    assert post.args["text"] == "Done" and post.args["thread_ts"] == "200.000001"
    assert not fake.of("chat.update")


async def test_without_assistant_capability_the_placeholder_is_used(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    out = outbound()  # the fake answers setStatus with not_allowed
    out.start_turn(9, parse_key("T1:D1:200.000002"), "T1:U1")
    out.turn_event(9, "status", {})
    await out.send(delivery("Done", key="T1:D1:200.000002", reply_to=9))
    assert [c.method for c in fake.calls] == [
        "assistant.threads.setStatus", "chat.postMessage", "chat.update"]


async def test_streaming_sends_the_deltas_then_finalises_the_message(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    out = outbound(slack_streaming=True, slack_stream_buffer_chars=4)
    out.start_turn(10, parse_key("T1:C1:300.000001"), "T1:U1")
    out.turn_event(10, "status", {})
    for word in ("Hello ", "streaming ", "world"):
        out.turn_event(10, "text_delta", {"text": word})
    assert (await out.send(delivery("Hello streaming world", key="T1:C1:300.000001",
                                    reply_to=10))).status == "sent"
    (start,) = fake.of("chat.startStream")
    assert (start.args["recipient_team_id"], start.args["recipient_user_id"]) == ("T1", "U1")
    assert start.args["thread_ts"] == "300.000001"
    streamed = [ch["text"] for c in fake.calls if c.method.endswith("Stream")
                for ch in c.args.get("chunks", [])]
    assert "".join(streamed) == "Hello streaming world"
    assert fake.of("chat.stopStream")
    (update,) = fake.of("chat.update")
    assert update.args["ts"] == start.result["ts"]
    assert not fake.of("chat.postMessage")


async def test_sends_to_one_channel_are_paced(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    out = outbound(slack_post_interval_s=0.2)
    for n in range(3):
        assert (await out.send(delivery(f"m{n}", id=n))).status == "sent"
    times = [c.at for c in fake.of("chat.postMessage")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 2 and all(gap >= 0.18 for gap in gaps)


async def test_a_429_is_retried_after_retry_after_and_sent_once(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    fake.fail("chat.postMessage", 429, headers={"Retry-After": "0"})
    assert (await outbound().send(delivery("patience"))).status == "sent"
    posts = fake.of("chat.postMessage")
    assert [p.result.get("ok") for p in posts] == [False, True]
    assert posts[0].args["text"] == posts[1].args["text"] == "patience"


async def test_persistent_429_is_requeued_not_dropped_and_not_duplicated(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    out = outbound(slack_rate_limit_retries=1)
    text = "\n\n".join(f"part {n} " + "w" * 2800 for n in range(60))  # two messages
    # the second message meets a rate limit outlasting the client's own retries
    fake.fail("chat.postMessage", 429, headers={"Retry-After": "0"}, times=2, after=1)
    result = await out.send(delivery(text))
    assert result.status == "retry" and result.retry_after_s == 0.0
    assert (await out.send(delivery(text))).status == "sent"
    delivered = [p.args["blocks"][0]["text"]["text"][:7] for p in fake.of("chat.postMessage")
                 if p.result.get("ok")]
    assert delivered == ["part 0 ", "part 50"], "nothing posted twice, nothing dropped"


@pytest.mark.parametrize(("status", "error", "expected"), [
    (500, "internal_error", "retry"), (503, "service_unavailable", "retry"),
    (200, "invalid_blocks", "failed"), (200, "channel_not_found", "failed"),
])
async def test_errors_are_retried_or_failed(
    outbound: OutboundFactory, fake: FakeSlackApi, status: int, error: str, expected: str,
) -> None:
    fake.fail("chat.postMessage", status, error=error)
    result = await outbound().send(delivery("x"))
    assert (result.status, result.error) == (expected, error)


async def test_after_a_crash_a_posted_reply_is_recognised_and_not_posted_again(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    sent = delivery("already there", key="T1:C1:400.000001", id=41)
    assert (await outbound().send(sent)).status == "sent"
    restarted = outbound()  # a new worker knows nothing of the first one
    assert await restarted.was_sent(sent) is True
    assert await restarted.was_sent(delivery("never sent", key="T1:C1:400.000001",
                                             id=42)) is False
    dm = delivery("top-level in a DM", key="T1:D4", id=43)
    assert (await outbound().send(dm)).status == "sent"
    assert await restarted.was_sent(dm) is True


async def test_after_a_crash_only_missing_parts_are_sent_and_the_placeholder_is_reused(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    first = outbound(slack_rate_limit_retries=0)
    first.start_turn(50, parse_key("T1:C1:500.000001:U1"), "T1:U1")
    first.turn_event(50, "status", {})
    text = "\n\n".join(f"part {n} " + "w" * 2800 for n in range(60))  # two messages
    fake.fail("chat.postMessage", 429, headers={"Retry-After": "0"}, after=1)  # 2nd part
    reply = delivery(text, key="T1:C1:500.000001:U1", id=51, reply_to=50)
    assert (await first.send(reply)).status == "retry"
    posted_before = len(fake.of("chat.postMessage"))

    restarted = outbound()
    assert await restarted.was_sent(reply) is False
    assert (await restarted.send(reply)).status == "sent"
    new_posts = fake.of("chat.postMessage")[posted_before:]
    assert len(new_posts) == 1 and "part 50" in new_posts[0].args["blocks"][0]["text"]["text"]
    thread = [m for m in fake.messages.values() if m["thread_ts"] == "500.000001"]
    assert len(thread) == 2, "placeholder replaced by part one, then part two; nothing twice"


async def test_a_placeholder_left_by_a_crashed_worker_is_replaced(
    outbound: OutboundFactory, fake: FakeSlackApi,
) -> None:
    crashed = outbound()
    crashed.start_turn(60, parse_key("T1:C1:600.000001:U1"), "T1:U1")
    crashed.turn_event(60, "status", {})

    async def placeholder_posted() -> bool:
        return len(fake.of("chat.postMessage")) == 1
    await wait_for(placeholder_posted)
    reply = delivery("answer", key="T1:C1:600.000001:U1", id=61, reply_to=60)
    restarted = outbound()
    assert await restarted.was_sent(reply) is False
    assert (await restarted.send(reply)).status == "sent"
    (update,) = fake.of("chat.update")
    assert update.args["ts"] == fake.of("chat.postMessage")[0].result["ts"]
    assert len(fake.of("chat.postMessage")) == 1
