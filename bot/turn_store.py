"""The last step of a turn: everything it decided, written in one transaction.

`TurnStore.finish` stores the classification, the reply, the session's counters,
audit and security records and the responder's deferred rows together with the
reply's delivery claim, so a turn is either wholly recorded or not at all (and then
re-run). `relay_to_staff` is the quiet variant used while a person has the
conversation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from bot import channel_rules
from bot.classify import Classification, store_classification
from bot.db import messages
from bot.db.messages import StoredInbound
from bot.db.pool import Conn, Database
from bot.delivery import ClaimedReplies, Deliverer
from bot.events import NOTIFY_SQL, notify_params
from bot.handoff.policy import SESSION_AFTER_TURN_SQL, may_start_handoff, policy_handoff_due
from bot.handoff.service import HandoffService
from bot.hooks import EventHooks
from bot.models import OutboundReply, StreamEvent
from bot.observability import Metrics
from bot.responders import DeferredWrite
from bot.safety.audit import audit, injection_event, security_event
from bot.safety.injection import InjectionVerdict
from bot.safety.pii import mask_sample
from bot.settings import Settings
from bot.turn_state import TurnState

log = structlog.get_logger(__name__)


@dataclass
class TurnStore:
    """Writes a finished turn; shared by every turn of one process's pipeline."""

    settings: Settings
    db: Database
    deliverer: Deliverer
    metrics: Metrics
    handoffs: HandoffService | None = None
    hooks: EventHooks | None = None

    async def _record_injection(self, conn: Conn, message: StoredInbound,
                                verdict: InjectionVerdict, text: str) -> None:
        self.metrics.security_events.labels("prompt_injection").inc()
        await injection_event(conn, contact_id=message.contact_id, message_id=message.id,
                              verdict=verdict, text=text, hooks=self.hooks)

    async def relay_to_staff(self, batch: list[StoredInbound], state: TurnState, text: str,
                             classification: Classification,
                             injection: InjectionVerdict | None) -> None:
        """During a handoff the bot stays quiet: the message is stored and shown to staff."""
        last = batch[-1]
        async with self.db.as_user(last.contact_id) as conn:
            await store_classification(conn, contact_id=last.contact_id, message_id=last.id,
                                       result=classification)
            await messages.mark_relayed(conn, [m.id for m in batch], state.session.id)
            if injection is not None:  # staff read it; the record is still kept
                await self._record_injection(conn, last, injection, text)
        if self.handoffs is not None:
            handoff = await self.handoffs.open_handoff(last.conversation_id)
            if handoff is not None:
                await self.handoffs.relay(handoff, text)
        log.info("relayed_to_staff", message_id=last.id)

    async def finish(self, batch: list[StoredInbound], state: TurnState, reply: OutboundReply,
                     classification: Classification, *, findings: list[str] | None = None,
                     unhelpful: bool = False, text: str = "",
                     opt_set: bool | None = None,
                     injection: InjectionVerdict | None = None,
                     deferred: list[DeferredWrite] | None = None,
                     notify: list[StreamEvent] | None = None) -> ClaimedReplies:
        """Store classification, reply, counters, audit records and the responder's
        deferred rows in one transaction, which also claims the reply for delivery and
        sends `notify` on commit."""
        last = batch[-1]
        t0 = time.perf_counter()
        async with self.db.as_user(last.contact_id, pipeline=True) as conn:
            await store_classification(conn, contact_id=last.contact_id, message_id=last.id,
                                       result=classification)
            cur = await conn.execute(SESSION_AFTER_TURN_SQL, (unhelpful, state.session.id))
            # Read now only when a policy could start a handoff; otherwise after the commit,
            # which brings the row without a round trip of its own.
            row = (await cur.fetchone() if may_start_handoff(
                unhelpful=unhelpful, intent=classification.intent) else None)
            due = None if row is None else await policy_handoff_due(
                conn, self.settings, session_id=state.session.id,
                intent=classification.intent, session_row=row)
            if self.handoffs is not None and due is not None:
                handoff_text = await self.handoffs.start(
                    conn, contact_id=last.contact_id, conversation_id=last.conversation_id,
                    session_id=state.session.id, trigger=due[0], reason=due[1],
                    intent=classification.intent, history=state.history)
                reply = reply.model_copy(update={"text": f"{reply.text}\n\n{handoff_text.text}",
                                                 "parts": []})
            await messages.save_reply(conn, inbound=batch, session_id=state.session.id,
                                      reply=reply)
            if opt_set is not None:
                await channel_rules.set_opted_out(conn, last.contact_id, opt_set, last.channel)
            if self.settings.audit_user_prompts and text:
                await audit(conn, contact_id=last.contact_id, actor="user", action="prompt",
                            detail={"message_id": last.id, "sample": mask_sample(text)})
            for finding in findings or []:
                self.metrics.security_events.labels(f"output_{finding}").inc()
                await security_event(conn, contact_id=last.contact_id, kind=f"output_{finding}",
                                     severity="high" if finding != "internal_id" else "low",
                                     detail={"message_id": last.id}, hooks=self.hooks)
            if injection is not None:
                await self._record_injection(conn, last, injection, text)
            for write in deferred or []:
                await write(conn)
            for event in notify or []:
                await conn.execute(NOTIFY_SQL, notify_params(event))
            claim = await self.deliverer.queue_claim(conn, last.conversation_id)
        if deferred:
            deferred.clear()  # committed: a failure after this point must not store them again
        if row is None:
            row = await cur.fetchone()
        self.metrics.stage_done("store", t0)
        # A handoff started in this turn (by a policy here or the agent's tool) leaves the
        # session escalated; only then is there one to announce.
        escalated = due is not None or (row is not None and row["status"] == "escalated")
        if self.handoffs is not None and escalated:
            handoff = await self.handoffs.open_handoff(last.conversation_id)
            if handoff is not None and handoff.status == "waiting":
                await self.handoffs.announce_if_due(handoff.id)
        log.info("turn_answered", message_id=last.id, intent=classification.intent,
                 method=classification.method)
        return await claim.read()
