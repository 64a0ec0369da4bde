"""Which buttons are still open: those of the bot's last answer (all its parts), not of
an earlier question, a staff message, or a message of the turn itself."""

from __future__ import annotations

from typing import Any

from bot.models import Option, OutboundReply, QuickReplies
from bot.turn.stages.stale_choice import last_offer


def row(id_: int, direction: str, *payloads: str, author: str | None = None) -> dict[str, Any]:
    rich = (OutboundReply(text="", parts=[QuickReplies(options=[
        Option(title=p, payload=p) for p in payloads])]).model_dump() if payloads else None)
    return {"id": id_, "direction": direction, "rich": rich, "author": author}


def test_only_the_bot_s_last_answer_is_open() -> None:
    history = [row(1, "in"), row(2, "out", "confirm_book:7"), row(3, "in"),
               row(4, "out", "book:8"), row(5, "out", "book:9"), row(6, "in")]
    assert [o.payload for o in last_offer(history, {6})] == ["book:8", "book:9"]
    # after the customer's next message the offer is answered
    assert last_offer([*history, row(7, "out"), row(8, "in")], {8}) == []


def test_a_staff_message_offers_nothing() -> None:
    history = [row(1, "in"), row(2, "out", "confirm:1", author="maria"), row(3, "in")]
    assert last_offer(history, {3}) == []


def test_a_burst_of_the_turn_does_not_hide_the_offer() -> None:
    history = [row(1, "in"), row(2, "out", "yes:1", "no:1"), row(3, "in"), row(4, "in")]
    assert [o.payload for o in last_offer(history, {3, 4})] == ["yes:1", "no:1"]
