"""A tapped button counts only if the bot's last answer offered it: a button of a question
already answered, or replaced by a newer one, does nothing but say so (a stale "Yes, book
it" had re-booked a class just cancelled). Menu and topic buttons (`intent:`, `kb:`)
only navigate, so they stay good wherever they are."""

from __future__ import annotations

from typing import Any

from bot.models import Option, OutboundReply
from bot.turn.stage import Answer, Outcome, Turn, guarded

NAVIGATION = ("intent:", "kb:")
STALE = OutboundReply(text=(
    "That button belongs to an earlier question that has already been answered, so I "
    "did nothing. What would you like to do now?"))


def last_offer(history: list[dict[str, Any]], current: set[int]) -> list[Option]:
    """The options of the bot's last answer: its messages after the customer's previous
    message (the turn's own messages, in `current`, left out)."""
    earlier = [r for r in history if not (r["direction"] == "in" and r["id"] in current)]
    last_in = max((i for i, r in enumerate(earlier) if r["direction"] == "in"), default=-1)
    return [option for row in earlier[last_in + 1:] if row["direction"] == "out"
            and row.get("rich") and row.get("author") is None
            for option in OutboundReply.model_validate(row["rich"]).options()]


class StaleChoice:
    async def run(self, turn: Turn) -> Outcome | None:
        payload = turn.payload
        if payload is None or payload.startswith(NAVIGATION):
            return None
        if payload in {o.payload for o in last_offer(turn.history, set(turn.message_ids))}:
            return None
        turn.notes["stale_choice"] = payload[:40]
        return Answer(STALE, guarded("stale_choice"))
