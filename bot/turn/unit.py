"""The turn's unit of work: what it writes, publishes and claims, committed once.

Stages and responders append to it while the turn runs; nothing of it reaches the
database before `commit`, which sends every row, the progress events (NOTIFY, sent when
the transaction commits) and the claim of the reply for delivery in one pipelined
transaction: a turn is wholly recorded or not at all (and then run again). What its rows
announce (hook events, metrics) waits for the commit (`bot.db.pool.after_commit`).
"""

from __future__ import annotations

from uuid import UUID

import structlog

from bot.db.notify import NOTIFY_SQL, notify_params
from bot.db.pool import Database
from bot.models import StreamEvent
from bot.outbound.delivery import QueuedClaim, ReplyClaim
from bot.routing.responder import RowWrite

log = structlog.get_logger(__name__)


class TurnUnit:
    """Rows to write, events to publish and the reply to claim, for one turn."""

    def __init__(self, db: Database, contact_id: UUID) -> None:
        self.db = db
        self.contact_id = contact_id
        self.rows: list[RowWrite] = []
        self.events: list[StreamEvent] = []
        self._claim: ReplyClaim | None = None

    def write(self, row: RowWrite) -> None:
        """A row (or a few statements) for the turn's transaction, in the order given."""
        self.rows.append(row)

    def publish(self, event: StreamEvent) -> None:
        """A progress event sent when (and only if) the transaction commits."""
        self.events.append(event)

    def claim(self, claim: ReplyClaim) -> None:
        """Claim the reply this unit stores for delivery, in the same transaction."""
        self._claim = claim

    async def commit(self) -> QueuedClaim | None:
        """Write everything in one transaction; the claim's rows are read after it."""
        queued: QueuedClaim | None = None
        async with self.db.as_user(self.contact_id, pipeline=True) as conn:
            for row in self.rows:
                await row(conn)
            for event in self.events:
                await conn.execute(NOTIFY_SQL, notify_params(event))
            if self._claim is not None:
                queued = await self._claim.queue(conn)
        self.rows.clear()  # committed: a failure after this must not store them again
        self.events.clear()
        return queued

    async def commit_rows_after_failure(self) -> None:
        """A failed turn's rows (what its model calls cost), without its events or claim;
        the turn's retry matters more than they do, so a failure here is only logged."""
        if not self.rows:
            return
        try:
            async with self.db.as_user(self.contact_id, pipeline=True) as conn:
                for row in self.rows:
                    await row(conn)
            self.rows.clear()
        except Exception as exc:
            log.error("turn_rows_failed", count=len(self.rows), error=type(exc).__name__)
