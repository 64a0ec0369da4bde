"""Turn rules a channel asks for through its `ChannelTraits`: menus picked by number,
and opting out of (and back into) messages with keywords like STOP / START.

The decisions are pure; the two writes (contact flag, skipped messages) are small
functions run inside the turn's own transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from adapters.base import ChannelTraits
from bot.db.pool import Conn
from bot.models import OutboundReply

OptCommand = Literal["stop", "start"]


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


def opt_command(texts: list[str], traits: ChannelTraits) -> OptCommand | None:
    """The last opt-out or opt-in keyword among a turn's messages (whole message, any case)."""
    found: OptCommand | None = None
    for text in texts:
        word = text.strip().strip(".!").upper()
        if word in traits.opt_out_words:
            found = "stop"
        elif word in traits.opt_in_words:
            found = "start"
    return found


@dataclass(frozen=True)
class OptDecision:
    """What a turn does about opting out: answer, skip silently, or carry on as usual."""

    reply: OutboundReply | None = None
    skip: bool = False
    set_opted_out: bool | None = None


def decide(command: OptCommand | None, opted_out: bool, traits: ChannelTraits) -> OptDecision:
    """STOP confirms once; while opted out nothing is answered until START."""
    if command == "stop":
        if opted_out:
            return OptDecision(skip=True)
        return OptDecision(OutboundReply(text=traits.opt_out_reply, compliance_notice=True),
                           set_opted_out=True)
    if opted_out and command == "start":
        return OptDecision(OutboundReply(text=traits.opt_in_reply, compliance_notice=True),
                           set_opted_out=False)
    return OptDecision(skip=opted_out)


async def set_opted_out(conn: Conn, contact_id: UUID, value: bool, channel: str) -> None:
    await conn.execute("UPDATE app.contacts SET opted_out = %s WHERE id = %s", (value, contact_id))
    await conn.execute(
        "INSERT INTO app.audit_log (contact_id, actor, action, detail)"
        " VALUES (%s, 'contact', %s, %s::jsonb)",
        (contact_id, "opt_out" if value else "opt_in", json.dumps({"channel": channel})),
    )
