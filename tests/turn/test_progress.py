"""The pipeline's TurnObserver hook: every event reaches the adapter, in the worker,
and an observer that fails never fails the turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.web import WebChatAdapter
from bot.channels import ChannelDeps, TurnObserver
from bot.models import EventName, InboundMessage, StoredInbound
from bot.runtime import Runtime
from bot.settings import Settings
from tests.conftest import wait_for


class ObservedWebChat(WebChatAdapter, TurnObserver):
    """The web chat adapter that also observes turns, and breaks while doing so."""

    def __init__(self, deps: ChannelDeps) -> None:
        super().__init__(deps)
        self.seen: list[tuple[int, EventName]] = []

    async def turn_event(self, message: StoredInbound, event: EventName,
                         data: dict[str, Any]) -> None:
        self.seen.append((message.id, event))
        raise RuntimeError("the platform is down")


async def test_observer_sees_the_turn_and_its_failure_does_not_fail_it(
    make_settings: Callable[..., Settings], inbound: Callable[..., InboundMessage],
) -> None:
    rt = Runtime(make_settings())
    observed = rt.adapters["web"] = ObservedWebChat(rt.channel_deps)
    await rt.start(worker=True)
    try:
        result = await rt.ingest(inbound(text="watch me"))

        async def answered() -> bool:
            async with rt.db.as_user(result.contact_id) as conn:
                cur = await conn.execute("SELECT status FROM app.messages WHERE id = %s",
                                         (result.message_id,))
                row = await cur.fetchone()
            return row is not None and row["status"] == "answered"
        await wait_for(answered)
        assert (result.message_id, "status") in observed.seen
        assert (result.message_id, "text_delta") in observed.seen
    finally:
        await rt.stop()
