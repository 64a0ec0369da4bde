"""Storing how a turn ended, in one place: an answer, a skip, or a relay to staff.

Each outcome's rows join what the stages left in the turn's unit, and the unit commits
once: classification, reply (keyed to its inbound message, so a re-run turn stores no
second one), session counters, audit and security records, the responder's rows, the
progress events and the reply's claim for delivery. A policy may bring in a person on
the way (after too many unhelpful answers, or refused messages).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
import structlog

from bot.db import classifications, messages
from bot.db.conversations import SESSION_AFTER_TURN_SQL
from bot.db.pool import Conn, Row
from bot.handoff.policy import may_start_handoff, policy_handoff_due
from bot.handoff.service import HandoffService
from bot.observability import Metrics
from bot.outbound.delivery import ClaimedReplies, Deliverer
from bot.settings import Settings
from bot.turn.stage import Answer, Outcome, Relay, Skip, Turn

log = structlog.get_logger(__name__)


@dataclass
class _AnswerRows:
    """The answer's own rows: session counters, a policy's handoff, the reply."""

    turn: Turn
    answer: Answer
    settings: Settings
    handoffs: HandoffService
    session: psycopg.AsyncCursor[Row] | None = None
    session_row: Row | None = None
    policy_handoff: bool = False

    async def __call__(self, conn: Conn) -> None:
        turn, answer = self.turn, self.answer
        intent = answer.classification.intent
        self.session = await conn.execute(SESSION_AFTER_TURN_SQL,
                                          (answer.unhelpful, turn.session.id))
        reply = answer.reply
        # Read now only when a policy could start a handoff; otherwise after the commit,
        # which brings the row without a round trip of its own.
        if may_start_handoff(unhelpful=answer.unhelpful, intent=intent):
            self.session_row = await self.session.fetchone()
            due = await policy_handoff_due(conn, self.settings, session_id=turn.session.id,
                                           intent=intent, session_row=self.session_row)
            if due is not None:
                last = turn.last
                waiting = await self.handoffs.start(
                    conn, contact_id=last.contact_id, conversation_id=last.conversation_id,
                    session_id=turn.session.id, trigger=due[0], reason=due[1], intent=intent,
                    history=turn.history)
                reply = reply.model_copy(update={"text": f"{reply.text}\n\n{waiting.text}",
                                                 "parts": []})
                self.policy_handoff = True
        await messages.save_reply(conn, inbound=turn.batch, session_id=turn.session.id,
                                  reply=reply)

    async def escalated(self) -> bool:
        """After the commit: did this turn leave the session escalated (a policy here, or
        the agent's handoff tool)?"""
        if self.policy_handoff:
            return True
        row = self.session_row
        if row is None and self.session is not None:
            row = await self.session.fetchone()
        return row is not None and row["status"] == "escalated"


class Outcomes:
    """Stores turns' outcomes; shared by every turn of one process."""

    def __init__(self, *, settings: Settings, deliverer: Deliverer, metrics: Metrics,
                 handoffs: HandoffService) -> None:
        self.settings = settings
        self.deliverer = deliverer
        self.metrics = metrics
        self.handoffs = handoffs

    async def store(self, turn: Turn, outcome: Outcome) -> ClaimedReplies | None:
        """Commit the turn; the replies claimed for delivery when it stored one."""
        t0 = time.perf_counter()
        last = turn.last
        unit = turn.unit
        if isinstance(outcome, Skip):
            unit.write(lambda conn: messages.mark_skipped(conn, turn.message_ids,
                                                          turn.session.id))
            await unit.commit()
            return None
        found = outcome.classification
        unit.write(lambda conn: classifications.store(
            conn, contact_id=last.contact_id, message_id=last.id, intent=found.intent,
            confidence=found.confidence, method=found.method,
            alternatives=found.alternatives, latency_ms=found.latency_ms))
        if isinstance(outcome, Relay):
            await self._relay(turn, outcome)
            return None
        rows = _AnswerRows(turn, outcome, self.settings, self.handoffs)
        unit.write(rows)
        unit.claim(self.deliverer.claim(last.conversation_id))
        claim = await unit.commit()
        self.metrics.stage_done("store", t0)
        if await rows.escalated():
            handoff = await self.handoffs.open_handoff(last.conversation_id)
            if handoff is not None and handoff.status == "waiting":
                await self.handoffs.announce_if_due(handoff.id)
        log.info("turn_answered", message_id=last.id, intent=outcome.classification.intent,
                 method=outcome.classification.method)
        assert claim is not None
        return await claim.read()

    async def _relay(self, turn: Turn, outcome: Relay) -> None:
        """During a handoff the bot stays quiet: the message is stored and shown to staff."""
        turn.unit.write(lambda conn: messages.mark_relayed(conn, turn.message_ids,
                                                           turn.session.id))
        await turn.unit.commit()
        handoff = await self.handoffs.open_handoff(turn.last.conversation_id)
        if handoff is not None:
            await self.handoffs.relay(handoff, turn.text)
        log.info("relayed_to_staff", message_id=turn.last.id)
