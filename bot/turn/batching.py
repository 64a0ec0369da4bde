"""Which inbound messages one turn answers: the oldest unanswered one, or a whole burst.

People on WhatsApp send several short messages in a row. On channels with a burst
window, a turn whose oldest message is younger than the window waits until the
newest has been quiet for the window (never past `burst_max_wait_s` after the
oldest), then takes every unanswered message as one turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

from bot.channels import ChannelTraits
from bot.db import messages
from bot.db.pool import Database
from bot.models import StoredInbound, utcnow


async def next_batch(db: Database, conversation_id: UUID, contact_id: UUID,
                     traits_of: Callable[[str], ChannelTraits],
                     first: list[StoredInbound] | None = None) -> list[StoredInbound]:
    """The next turn's messages; `traits_of(channel)` gives the channel's burst window.
    `first` is the oldest unanswered message when the caller has read it already."""
    if first is not None:
        batch = first
    else:
        batch = await messages.read_unanswered(db, contact_id, conversation_id)
    if not batch:
        return batch
    traits = traits_of(batch[0].channel)
    if traits.burst_window_s <= 0:
        return batch
    limit = max(1, traits.burst_max_messages)
    while True:
        batch = await messages.read_unanswered(db, contact_id, conversation_id, limit)
        if not batch:
            return batch
        now = utcnow()
        oldest, newest = batch[0].received_at, batch[-1].received_at
        if (now - oldest).total_seconds() >= traits.burst_window_s or len(batch) >= limit:
            return batch
        wait = min((newest - now).total_seconds() + traits.burst_window_s,
                   (oldest - now).total_seconds() + traits.burst_max_wait_s)
        if wait <= 0:
            return batch
        await asyncio.sleep(wait)
