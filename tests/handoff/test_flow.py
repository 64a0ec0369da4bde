"""Handoff end to end on the web chat, staff working from the database console."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from bot.db.pool import Database
from bot.handoff.console import HandoffView
from bot.intents.contract import Classification, LLMGate, TurnScope
from bot.models import InboundMessage
from bot.runtime import Runtime
from tests.conftest import RuntimeFactory, wait_for


class KeywordClassifier:
    """A fake model: the first keyword found decides the intent."""

    RULES: ClassVar[dict[str, str]] = {
        "person": "human_handoff", "bot": "back_to_bot", "stop": "opt_out",
        "yoga": "class_schedule", "hello": "greeting"}

    async def classify(self, text: str, *, previous_intent: str | None = None,
                       payload: str | None = None, scope: TurnScope | None = None,
                       llm_gate: LLMGate | None = None) -> Classification:
        for word, intent in self.RULES.items():
            if word in text.lower():
                return Classification(intent, 0.99, "local")
        return Classification("out_of_scope", 0.1, "local")


class RecordingConsole:
    """A console that records what staff would see."""

    def __init__(self) -> None:
        self.announced: list[HandoffView] = []
        self.mirrored: list[str] = []
        self.notices: list[str] = []
        self.notices_by_handoff: dict[object, list[str]] = {}

    async def announce(self, handoff: HandoffView) -> dict[str, str]:
        self.announced.append(handoff)
        return {"ref": "console-1"}

    async def mirror(self, handoff: HandoffView, author: str, text: str) -> None:
        self.mirrored.append(text)

    async def notice(self, handoff: HandoffView, text: str) -> None:
        self.notices.append(text)
        self.notices_by_handoff.setdefault(handoff.id, []).append(text)


async def outbound(db: Database, contact: UUID, conversation: UUID) -> list[dict[str, Any]]:
    async with db.as_user(contact) as conn:
        cur = await conn.execute(
            "SELECT text, status, author, rich FROM app.messages WHERE conversation_id = %s"
            " AND direction = 'out' ORDER BY id", (conversation,))
        return list(await cur.fetchall())


def handoff_runtime(runtime_factory: RuntimeFactory, console: RecordingConsole,
                    **settings: Any) -> Any:
    class ConsoleRuntime(Runtime):
        def build_console(self) -> RecordingConsole:  # type: ignore[override]
            return console
    return runtime_factory(classifier=KeywordClassifier(), runtime_class=ConsoleRuntime,
                           **settings)


async def test_web_user_handoff_relay_staff_reply_note_back_to_bot_and_resolve(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    console = RecordingConsole()
    async with handoff_runtime(runtime_factory, console) as rt:
        first = inbound(text="I want to talk to a person")

        async def say(text: str) -> None:
            await rt.ingest(inbound(text=text, sender_id=first.sender_id,
                                    conversation_key=first.conversation_key))

        r = await rt.ingest(first)

        async def count_out(n: int) -> Callable[[], Any]:
            async def check() -> bool:
                rows = await outbound(db, r.contact_id, r.conversation_id)
                return len(rows) >= n and all(x["status"] == "sent" for x in rows)
            return check

        await wait_for(await count_out(1))
        handoff = await rt.handoffs.open_handoff(r.conversation_id)
        assert handoff is not None and handoff.status == "waiting"
        assert handoff.id in [h.id for h in console.announced]
        rows = await outbound(db, r.contact_id, r.conversation_id)
        assert "person from our team" in rows[0]["text"] and "escalat" not in rows[0]["text"]

        # the user writes again: stored, shown to staff, the bot stays quiet
        await say("are you there? my card was charged twice")

        async def relayed() -> bool:
            return "are you there? my card was charged twice" in console.mirrored
        await wait_for(relayed)
        assert len(await outbound(db, r.contact_id, r.conversation_id)) == 1

        # staff: an internal note is not sent, a reply is, marked as from a person
        note = await rt.handoffs.reply(handoff.id, "maria", "// check the payment log first")
        assert note.ok and "not sent" in note.text
        sent = await rt.handoffs.reply(handoff.id, "maria", "Hi, Maria here - refunding it now.")
        assert sent.ok
        await wait_for(await count_out(2))
        staff_row = (await outbound(db, r.contact_id, r.conversation_id))[1]
        assert staff_row["author"] == "maria" and staff_row["rich"]["from_human"] is True
        assert "payment log" not in str(await outbound(db, r.contact_id, r.conversation_id))

        # back to bot: the bot answers the next message again
        back = await rt.handoffs.finish(handoff.id, "maria", back_to_bot=True)
        assert back.ok
        await wait_for(await count_out(3))
        await say("when is yoga?")
        await wait_for(await count_out(4))
        assert await rt.handoffs.open_handoff(r.conversation_id) is None

        # a second handoff, resolved by staff: closes the session
        await say("person please")
        await wait_for(await count_out(5))
        second = await rt.handoffs.open_handoff(r.conversation_id)
        assert second is not None
        claimed = await rt.handoffs.claim(second.id, "li")
        assert claimed.ok and "li" in console.notices[-1]
        assert not (await rt.handoffs.claim(second.id, "sam")).ok
        done = await rt.handoffs.finish(second.id, "li", back_to_bot=False)
        assert done.ok
    async with db.as_user(r.contact_id) as conn:
        cur = await conn.execute("SELECT status, close_reason FROM app.sessions"
                                 " WHERE conversation_id = %s ORDER BY started_at DESC LIMIT 1",
                                 (r.conversation_id,))
        assert await cur.fetchone() == {"status": "closed", "close_reason": "resolved"}


async def test_user_can_ask_for_the_bot_back_and_opt_out_during_handoff(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    console = RecordingConsole()
    async with handoff_runtime(runtime_factory, console) as rt:
        first = inbound(text="a person please")
        r = await rt.ingest(first)
        await rt.ingest(inbound(text="actually, back to the bot", sender_id=first.sender_id,
                                conversation_key=first.conversation_key))

        async def two() -> bool:
            rows = await outbound(db, r.contact_id, r.conversation_id)
            return len(rows) == 2 and rows[1]["status"] == "sent"
        await wait_for(two)
        rows = await outbound(db, r.contact_id, r.conversation_id)
        assert "back with the automated assistant" in rows[1]["text"]
        assert await rt.handoffs.open_handoff(r.conversation_id) is None
        assert console.notices == ["The customer went back to the bot."]
        assert rt.metrics.registry.get_sample_value("bot_handoff_resolve_seconds_count") == 1


async def test_reminder_and_user_notice_timings_with_controlled_time(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    make_settings: Callable[..., Any],
) -> None:
    console = RecordingConsole()
    settings = make_settings(handoff_remind_after_min=10, handoff_notify_user_after_min=30,
                             handoff_mention="@frontdesk", handoff_sweep_interval_s=3600)
    async with handoff_runtime(runtime_factory, console, settings=settings) as rt:
        r = await rt.ingest(inbound(text="person"))

        async def announced() -> bool:
            return any(h.conversation_id == r.conversation_id for h in console.announced)
        await wait_for(announced)
        handoff = next(h for h in console.announced if h.conversation_id == r.conversation_id)
        async with db.as_system() as conn:
            cur = await conn.execute("SELECT announced_at FROM app.handoffs WHERE id = %s",
                                     (handoff.id,))
            row = await cur.fetchone()
        assert row is not None
        t0: datetime = row["announced_at"]
        await rt.handoffs.sweep(now=t0 + timedelta(minutes=9))
        mine = console.notices_by_handoff
        assert not mine.get(handoff.id)
        await rt.handoffs.sweep(now=t0 + timedelta(minutes=10))
        assert mine[handoff.id] == ["@frontdesk Still waiting for a person: 10 min."]
        await rt.handoffs.sweep(now=t0 + timedelta(minutes=20))
        assert len(mine[handoff.id]) == 1  # reminded once
        await rt.handoffs.sweep(now=t0 + timedelta(minutes=30))

        async def told() -> bool:
            rows = await outbound(db, r.contact_id, r.conversation_id)
            return len(rows) == 2 and "Sorry for the wait" in rows[1]["text"]
        await wait_for(told)
        assert mine[handoff.id][-1].startswith("The customer was told everyone is busy")


async def test_handoff_outside_hours_is_queued_and_announced_when_hours_begin(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    make_settings: Callable[..., Any],
) -> None:
    console = RecordingConsole()
    now = datetime.now(UTC)
    # staffed only on a day that is not today, so it is closed now
    other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(now.weekday() + 3) % 7]
    settings = make_settings(handoff_hours=f"{other_day} 00:00-24:00",
                             handoff_sweep_interval_s=3600)
    async with handoff_runtime(runtime_factory, console, settings=settings) as rt:
        r = await rt.ingest(inbound(text="person"))

        async def answered() -> bool:
            return len(await outbound(db, r.contact_id, r.conversation_id)) == 1
        await wait_for(answered)
        text = (await outbound(db, r.contact_id, r.conversation_id))[0]["text"]
        assert "isn't available right now" in text and "back" in text
        assert [h for h in console.announced if h.conversation_id == r.conversation_id] == []
        opening = rt.handoffs.waiting.hours.next_open(now)
        assert opening is not None
        await rt.handoffs.sweep(now=opening + timedelta(minutes=1))
        assert len([h for h in console.announced if h.conversation_id == r.conversation_id]) == 1
