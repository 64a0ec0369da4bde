"""Numbered text menus, where a channel sends menus as text (WhatsApp without buttons):
"2", "2." or an option's title picks that option of the bot's last message."""

from __future__ import annotations

from typing import Any

from bot.models import OutboundReply
from bot.turn.stage import Outcome, Turn


def pick_option(text: str, history: list[dict[str, Any]]) -> str | None:
    """The payload of the option a text reply picks from the last message the bot sent.

    "2" (also "2." or "2)") picks the second option, numbered like
    `OutboundReply.options()`; an option's exact title (any case) picks that option.
    """
    sent = [row for row in history if row["direction"] == "out"]
    if not sent or not sent[-1].get("rich"):
        return None
    options = OutboundReply.model_validate(sent[-1]["rich"]).options()
    answer = text.strip().rstrip(".)").strip()
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return options[int(answer) - 1].payload
    for option in options:
        if option.title.strip().casefold() == answer.casefold():
            return option.payload
    return None


class MenuChoice:
    async def run(self, turn: Turn) -> Outcome | None:
        if turn.payload is None and turn.traits.text_menus:
            turn.payload = pick_option(turn.raw_text, turn.history)
        return None
