"""The state a turn starts from, read in one round trip.

The conversation's recent history and `app.open_turn` (opt-out flag on channels with
opt-out words, the open session continued or started, the previous intent) go to
PostgreSQL as one transaction: BEGIN, claims, both statements and COMMIT together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from adapters.base import ChannelTraits
from bot import channel_rules
from bot.db import messages
from bot.db.messages import StoredInbound
from bot.db.pool import Database
from bot.sessions import SessionInfo, session_info


@dataclass(frozen=True)
class TurnState:
    """The session a turn runs in, the conversation's recent messages, the last intent."""

    session: SessionInfo
    history: list[dict[str, Any]]
    previous_intent: str | None


OPEN_TURN_SQL = "SELECT * FROM app.open_turn(%s, %s, %s, %s, %s, %s, %s)"


async def open_turn(db: Database, batch: list[StoredInbound], traits: ChannelTraits, *,
                    inactivity: timedelta, history_max: int,
                    ) -> tuple[TurnState, channel_rules.OptDecision] | None:
    """The turn's state and the opt-out decision; None when an opted-out person's message
    is skipped (it is marked so in the same unit of work)."""
    last = batch[-1]
    check_opt_out = bool(traits.opt_out_words or traits.opt_in_words)
    command = channel_rules.opt_command([m.text for m in batch], traits)
    async with db.in_one_trip(last.contact_id) as unit:
        recent = unit.add(messages.HISTORY_SQL, (last.conversation_id, history_max))
        # While opted out nothing is answered but START (channel_rules.decide).
        opened = unit.add(OPEN_TURN_SQL, (
            last.conversation_id, last.contact_id, last.received_at, inactivity,
            [m.id for m in batch], check_opt_out, command != "start"))
    row = opened.one()
    assert row is not None
    if row["skipped"]:
        return None
    opt = (channel_rules.decide(command, bool(row["opted_out"]), traits) if check_opt_out
           else channel_rules.OptDecision())
    state = TurnState(session_info(row), list(recent.rows), row["previous_intent"])
    return state, opt
