"""The state a turn starts from, read in one unit of work.

The opt-out flag (on channels with opt-out words), the conversation's recent history
and its open session go to PostgreSQL together (pipeline mode: the first fetch brings
all three); then the session is continued or opened and the previous intent read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from adapters.base import ChannelTraits
from bot import channel_rules
from bot.classify import previous_intent
from bot.db import messages
from bot.db.messages import StoredInbound
from bot.db.pool import Database
from bot.sessions import CURRENT_SESSION_SQL, SessionInfo, open_session


@dataclass(frozen=True)
class TurnState:
    """The session a turn runs in, the conversation's recent messages, the last intent."""

    session: SessionInfo
    history: list[dict[str, Any]]
    previous_intent: str | None


async def open_turn(db: Database, batch: list[StoredInbound], traits: ChannelTraits, *,
                    inactivity: timedelta, history_max: int,
                    ) -> tuple[TurnState, channel_rules.OptDecision] | None:
    """The turn's state and the opt-out decision; None when an opted-out person's message
    is skipped (it is marked so in the same unit of work)."""
    last = batch[-1]
    opt = channel_rules.OptDecision()
    async with db.as_user(last.contact_id, pipeline=True) as conn:
        opted = (await conn.execute(channel_rules.OPTED_OUT_SQL, (last.contact_id,))
                 if traits.opt_out_words or traits.opt_in_words else None)
        recent = await conn.execute(messages.HISTORY_SQL, (last.conversation_id, history_max))
        current = await conn.execute(CURRENT_SESSION_SQL, (last.conversation_id,))
        if opted is not None:
            row = await opted.fetchone()
            command = channel_rules.opt_command([m.text for m in batch], traits)
            opt = channel_rules.decide(command, bool(row and row["opted_out"]), traits)
            if opt.skip:
                await channel_rules.mark_skipped(conn, [m.id for m in batch])
                return None
        session = await open_session(conn, conversation_id=last.conversation_id,
                                     contact_id=last.contact_id, at=last.received_at,
                                     inactivity=inactivity, inbound=len(batch),
                                     current=current)
        history = list(await recent.fetchall())
        previous = None if session.is_new else await previous_intent(conn, session.id)
    return TurnState(session, history, previous), opt
