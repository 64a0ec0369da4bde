"""The state a turn starts from, read in one round trip.

The conversation's recent history and `app.open_turn` (opt-out flag on channels with
opt-out words, the open session continued or started, the previous intent) go to
PostgreSQL as one transaction: BEGIN, claims, both statements and COMMIT together.
A `TurnPrefetch` (the agent's) adds its reads to the same unit, after `app.open_turn`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from adapters.base import ChannelTraits
from bot import channel_rules
from bot.db import messages
from bot.db.messages import StoredInbound
from bot.db.pool import Database, OneTripUnit
from bot.events import NOTIFY_SQL, notify_params
from bot.models import StreamEvent
from bot.sessions import SessionInfo, session_info


class TurnPrefetch(Protocol):
    """Reads a responder wants in the turn's opening round trip.

    `add_reads` queues statements that run after `app.open_turn` in the same transaction
    (so they see the turn's open session) and returns what builds their result from the
    session once the unit has committed; the result reaches the responder as
    `TurnContext.prefetched`."""

    def add_reads(self, unit: OneTripUnit,
                  batch: list[StoredInbound]) -> Callable[[SessionInfo], object]: ...


@dataclass(frozen=True)
class TurnState:
    """The session a turn runs in, the conversation's recent messages, the last intent."""

    session: SessionInfo
    history: list[dict[str, Any]]
    previous_intent: str | None
    #: what a `TurnPrefetch` read in the same round trip
    prefetched: object | None = None


OPEN_TURN_SQL = "SELECT * FROM app.open_turn(%s, %s, %s, %s, %s, %s, %s)"


async def open_turn(db: Database, batch: list[StoredInbound], traits: ChannelTraits, *,
                    inactivity: timedelta, history_max: int,
                    prefetch: TurnPrefetch | None = None,
                    notify: StreamEvent | None = None,
                    ) -> tuple[TurnState, channel_rules.OptDecision] | None:
    """The turn's state and the opt-out decision; None when an opted-out person's message
    is skipped (it is marked so in the same unit of work). `notify` is published in the
    same round trip."""
    last = batch[-1]
    check_opt_out = bool(traits.opt_out_words or traits.opt_in_words)
    command = channel_rules.opt_command([m.text for m in batch], traits)
    async with db.in_one_trip(last.contact_id) as unit:
        recent = unit.add(messages.HISTORY_SQL, (last.conversation_id, history_max))
        # While opted out nothing is answered but START (channel_rules.decide).
        opened = unit.add(OPEN_TURN_SQL, (
            last.conversation_id, last.contact_id, last.received_at, inactivity,
            [m.id for m in batch], check_opt_out, command != "start"))
        prefetched = prefetch.add_reads(unit, batch) if prefetch is not None else None
        if notify is not None:
            unit.add(NOTIFY_SQL, notify_params(notify))
    row = opened.one()
    assert row is not None
    if row["skipped"]:
        return None
    opt = (channel_rules.decide(command, bool(row["opted_out"]), traits) if check_opt_out
           else channel_rules.OptDecision())
    session = session_info(row)
    state = TurnState(session, list(recent.rows), row["previous_intent"],
                      prefetched(session) if prefetched is not None else None)
    return state, opt
