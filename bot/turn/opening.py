"""Opening a turn: the state it starts from, read in one round trip.

The conversation's recent history and `app.open_turn` (the opt-out flag on channels with
opt-out words, the open session continued or started, the previous intent) go to
PostgreSQL as one transaction: BEGIN, claims, statements and COMMIT together. Responders
that want reads of their own before the turn (the agent: its caps, memory and history)
add them to the same unit as `OpeningReads`; the "thinking" status event of a channel that
streams progress goes with it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from bot.channels import Channels
from bot.db import messages
from bot.db.conversations import OPEN_TURN_SQL, SessionInfo, session_info
from bot.db.notify import NOTIFY_SQL, notify_params
from bot.db.pool import Database, OneTripUnit
from bot.models import StoredInbound, StreamEvent
from bot.outbound.events import EventHub
from bot.routing.responder import OpeningReadResults, ReadKey
from bot.turn.progress import Progress
from bot.turn.stage import Turn
from bot.turn.stages.opt_out import opt_command
from bot.turn.unit import TurnUnit

T = TypeVar("T")
THINKING: dict[str, Any] = {"text": "thinking"}


class OpeningReads(Protocol[T]):
    """Reads a responder wants in the turn's opening round trip.

    `add_reads` queues statements that run after `app.open_turn` in the same transaction
    (so they see the turn's open session) and returns what builds their result from the
    session once the unit has committed; responders find it under `key`."""

    key: ReadKey[T]

    def add_reads(self, unit: OneTripUnit,
                  batch: list[StoredInbound]) -> Callable[[SessionInfo], T]: ...


class TurnOpening:
    """Reads what a turn starts from and builds the `Turn` the stages work on."""

    def __init__(self, db: Database, channels: Channels, hub: EventHub, *,
                 inactivity: timedelta, history_max: int,
                 reads: Sequence[OpeningReads[Any]] = ()) -> None:
        self.db = db
        self.channels = channels
        self.hub = hub
        self.inactivity = inactivity
        self.history_max = history_max
        self.reads = list(reads)

    async def open(self, batch: list[StoredInbound], unit: TurnUnit) -> Turn | None:
        """The turn, or None when an opted-out person's message is skipped (it is marked
        so in the same round trip)."""
        last = batch[-1]
        traits = self.channels.traits(last.channel)
        streams = self.channels.streams_progress(last.channel)
        command = opt_command([m.text for m in batch], traits)
        async with self.db.in_one_trip(last.contact_id) as trip:
            recent = trip.add(messages.HISTORY_SQL, (last.conversation_id, self.history_max))
            # While opted out nothing is answered but START (the opt-out stage).
            opened = trip.add(OPEN_TURN_SQL, (
                last.conversation_id, last.contact_id, last.received_at, self.inactivity,
                [m.id for m in batch], traits.has_opt_out, command != "start"))
            finish = [(r.key, r.add_reads(trip, batch)) for r in self.reads]
            if streams:
                trip.add(NOTIFY_SQL, notify_params(StreamEvent(
                    message_id=last.id, event="status", data=THINKING)))
        row = opened.one()
        assert row is not None
        if row["skipped"]:
            return None
        session = session_info(row)
        found = OpeningReadResults()
        for key, build in finish:
            found.put(key, build(session))
        progress = Progress(last, hub=self.hub if streams else None,
                            observer=self.channels.observer(last.channel), unit=unit)
        await progress.send("status", THINKING, notify="sent")
        return Turn(
            batch=batch, traits=traits, session=session, history=list(recent.rows),
            previous_intent=row["previous_intent"],
            opted_out=traits.has_opt_out and bool(row["opted_out"]), reads=found, unit=unit,
            progress=progress, raw_text="\n".join(m.text for m in batch if m.text),
            payload=last.payload)
