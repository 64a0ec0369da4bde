"""The output filter: every reply is checked before it is stored (leaked canaries,
internal ids, secrets); what it finds is recorded as a security event.

A reply that passes is shown now if nothing streamed it while it was written: its text
event goes with the turn's transaction, so it costs no round trip of its own.
"""

from __future__ import annotations

import structlog

from bot.db.pool import Conn
from bot.hooks import EventHooks
from bot.observability import Metrics
from bot.safety.audit import security_event
from bot.safety.output import OutputFilter as Filter
from bot.turn.stage import Outcome, Turn

log = structlog.get_logger(__name__)


class OutputFilter:
    def __init__(self, output_filter: Filter, metrics: Metrics,
                 hooks: EventHooks | None) -> None:
        self.filter = output_filter
        self.metrics = metrics
        self.hooks = hooks

    async def run(self, turn: Turn) -> Outcome | None:
        assert turn.reply is not None, "runs after the respond stage"
        last = turn.last
        checked = self.filter.check(turn.reply.text)
        if checked.changed:
            turn.reply = turn.reply.model_copy(update={"text": checked.text})
            log.warning("output_filtered", findings=checked.findings, message_id=last.id)
        for finding in checked.findings:
            self.metrics.security_events.labels(f"output_{finding}").inc()
            severity = "high" if finding != "internal_id" else "low"

            async def write(conn: Conn, kind: str = f"output_{finding}",
                            severity: str = severity) -> None:
                await security_event(conn, contact_id=last.contact_id, kind=kind,
                                     severity=severity, detail={"message_id": last.id},
                                     hooks=self.hooks)
            turn.unit.write(write)
        if not checked.changed and not turn.progress.streamed:
            await turn.progress.send("text_delta", {"text": turn.reply.text},
                                     notify="with_commit")
        return None
