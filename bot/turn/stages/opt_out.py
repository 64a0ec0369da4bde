"""Opting out of messages with a keyword (STOP) and back in (START), where a channel
asks for it in its traits (WhatsApp).

The turn's opening already skipped the message of a person who is opted out and did not
say START; this stage answers STOP (once) and START, and records the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.channels import ChannelTraits
from bot.contacts import set_opted_out
from bot.db.pool import Conn
from bot.hooks import EventHooks
from bot.intents.contract import Classification
from bot.models import OutboundReply
from bot.turn.stage import Answer, Outcome, Skip, Turn

OptCommand = Literal["stop", "start"]


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


class OptOut:
    """STOP confirms once and opts out; START opts back in; nothing else is touched."""

    def __init__(self, hooks: EventHooks | None) -> None:
        self.hooks = hooks

    async def run(self, turn: Turn) -> Outcome | None:
        if not turn.traits.has_opt_out:
            return None
        decision = decide(opt_command([m.text for m in turn.batch], turn.traits),
                          turn.opted_out, turn.traits)
        if decision.skip:  # the opening skips these already; kept for a decision's sake
            return Skip("opted_out")
        if decision.reply is None or decision.set_opted_out is None:
            return None
        last, opted_out = turn.last, decision.set_opted_out

        async def write(conn: Conn) -> None:
            await set_opted_out(conn, last.contact_id, opted_out, actor="contact",
                                channel=last.channel, hooks=self.hooks)
        turn.unit.write(write)
        return Answer(decision.reply, Classification(
            intent="opt_out" if opted_out else "opt_in", confidence=1.0, method="keyword"))
