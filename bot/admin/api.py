"""The admin JSON API under /admin/api: reads as the owner role, staff actions audited.

No `from __future__ import annotations` here: FastAPI must see the `Session`
dependency alias, which is local to `build_api`, as a real object.
"""

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query

from bot.admin import queries, stats
from bot.admin.auth import AdminAuth, AdminSession
from bot.admin.deps import AdminDeps
from bot.admin.ranges import TimeRange, time_range
from bot.admin.schemas import (
    ActionResult,
    Chart,
    ConversationSummary,
    Distribution,
    HandoffItem,
    ReplyBody,
    Transcript,
)
from bot.db.audit import audit
from bot.handoff.console import StaffResult
from bot.hooks.cost import daily_cap_usd
from bot.pii import mask_pii

Range = Annotated[TimeRange, Depends(time_range)]


def build_api(deps: AdminDeps, auth: AdminAuth) -> APIRouter:
    """Routes of the JSON API; every one needs an admin session."""
    Session = Annotated[AdminSession, Depends(auth.require)]
    api = APIRouter(prefix="/admin/api", tags=["admin"])

    @api.get("/conversations", response_model=list[ConversationSummary])
    async def conversations(_: Session, tr: Range,
                            limit: int = Query(50, ge=1, le=500)) -> list[ConversationSummary]:
        """Conversations with a message in the range, most recent first."""
        async with deps.db.as_system() as conn:
            return await queries.live_conversations(conn, tr.start, tr.end, limit)

    @api.get("/conversations/{conversation_id}", response_model=Transcript)
    async def conversation(conversation_id: UUID, session: Session,
                           limit: int = Query(200, ge=1, le=2000)) -> Transcript:
        """A transcript with intents, tool calls and LLM costs (the view is audited)."""
        async with deps.db.as_system() as conn:
            found = await queries.transcript(conn, conversation_id, limit)
            if found is None:
                raise HTTPException(status_code=404, detail="no such conversation")
            await audit(conn, contact_id=None, actor=f"admin:{session.staff}",
                        action="admin:view_conversation",
                        detail={"conversation": str(conversation_id)})
        deps.metrics.admin_actions.labels("view_conversation").inc()
        return found

    @api.get("/handoffs", response_model=list[HandoffItem])
    async def handoffs(_: Session) -> list[HandoffItem]:
        """Waiting and claimed handoffs, oldest first."""
        now = datetime.now(UTC)
        return [HandoffItem(
            id=h.id, conversation_id=h.conversation_id, channel=h.channel,
            contact=mask_pii(h.display_name), status=h.status, staff=h.staff,
            trigger=h.trigger, reason=h.reason, summary=h.summary, created_at=h.created_at,
            waiting_s=(now - h.created_at).total_seconds(),
        ) for h in await deps.handoffs.list_open()]

    async def act(action: str, handoff_id: UUID, session: AdminSession,
                  text: str | None = None) -> ActionResult:
        service = deps.handoffs
        try:
            if action == "claim":
                result: StaffResult = await service.claim(handoff_id, session.staff)
            elif action == "reply":
                result = await service.reply(handoff_id, session.staff, text or "")
            else:
                result = await service.finish(handoff_id, session.staff,
                                              back_to_bot=action == "back")
        except LookupError as exc:
            raise HTTPException(status_code=404, detail="no such handoff") from exc
        deps.metrics.admin_actions.labels(f"handoff_{action}").inc()
        status = result.handoff.status if result.handoff else None
        return ActionResult(ok=result.ok, text=result.text, status=status)

    @api.post("/handoffs/{handoff_id}/claim", response_model=ActionResult)
    async def claim(handoff_id: UUID, session: Session) -> ActionResult:
        """Take a waiting handoff."""
        return await act("claim", handoff_id, session)

    @api.post("/handoffs/{handoff_id}/reply", response_model=ActionResult)
    async def reply(handoff_id: UUID, body: ReplyBody, session: Session) -> ActionResult:
        """Answer the customer on their channel (claims a waiting handoff)."""
        return await act("reply", handoff_id, session, body.text)

    @api.post("/handoffs/{handoff_id}/resolve", response_model=ActionResult)
    async def resolve(handoff_id: UUID, session: Session) -> ActionResult:
        """Close the handoff and the session."""
        return await act("resolve", handoff_id, session)

    @api.post("/handoffs/{handoff_id}/back", response_model=ActionResult)
    async def back(handoff_id: UUID, session: Session) -> ActionResult:
        """Give the conversation back to the bot."""
        return await act("back", handoff_id, session)

    @api.get("/stats/messages", response_model=Chart)
    async def messages(_: Session, tr: Range) -> Chart:
        """Inbound messages per bucket by channel."""
        async with deps.db.as_system() as conn:
            return await stats.messages_by_channel(conn, tr)

    @api.get("/stats/intents", response_model=Distribution)
    async def intents(_: Session, tr: Range) -> Distribution:
        """How often each intent was found."""
        async with deps.db.as_system() as conn:
            return await stats.intents(conn, tr)

    @api.get("/stats/response-times", response_model=Chart)
    async def response_times(_: Session, tr: Range) -> Chart:
        """p50 and p95 seconds from an inbound message to its reply."""
        async with deps.db.as_system() as conn:
            return await stats.response_times(conn, tr)

    @api.get("/stats/errors", response_model=Chart)
    async def errors(_: Session, tr: Range) -> Chart:
        """Failed turns, failed deliveries and rate-limited messages."""
        async with deps.db.as_system() as conn:
            return await stats.errors(conn, tr)

    @api.get("/stats/costs", response_model=Chart)
    async def costs(_: Session, tr: Range) -> Chart:
        """LLM cost per day against the daily cap (no cap: `limit` is null)."""
        async with deps.db.as_system() as conn:
            return await stats.llm_cost_per_day(conn, tr, daily_cap_usd(deps.settings))

    @api.get("/stats/handoffs", response_model=Chart)
    async def handoff_times(_: Session, tr: Range) -> Chart:
        """Minutes from handoff to claim and to resolution (p50, p95)."""
        async with deps.db.as_system() as conn:
            return await stats.handoff_times(conn, tr)

    return api
