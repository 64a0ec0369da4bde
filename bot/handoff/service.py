"""The handoff state machine: waiting → claimed → resolved | returned (to the bot).

User-side steps run inside the turn's unit of work (acting as the user); staff-side
steps are operator actions through the login role, each recorded in the audit log.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from bot.db.pool import Conn, Database
from bot.handoff.console import HandoffConsole, HandoffView
from bot.handoff.hours import WorkingHours
from bot.handoff.stats import HandoffStats, handoff_stats
from bot.handoff.summary import extractive_summary, transcript
from bot.hooks import EventHooks, EventType
from bot.models import OutboundReply
from bot.observability import Metrics
from bot.safety.audit import audit
from bot.settings import Settings

log = structlog.get_logger(__name__)
Enqueue = Callable[[UUID, UUID], Awaitable[Any]]

_VIEW_SQL = (
    "SELECT h.*, c.display_name, cv.channel FROM app.handoffs h"
    " JOIN app.contacts c ON c.id = h.contact_id"
    " JOIN app.conversations cv ON cv.id = h.conversation_id")


@dataclass(frozen=True)
class StaffResult:
    """What a staff action did, for the console or CLI to report."""

    ok: bool
    text: str
    handoff: HandoffView | None = None


def _view(row: dict[str, Any], recent: list[str] | None = None) -> HandoffView:
    return HandoffView(
        id=row["id"], conversation_id=row["conversation_id"], contact_id=row["contact_id"],
        display_name=row.get("display_name") or "Customer", channel=row.get("channel") or "",
        status=row["status"], trigger=row["trigger"], reason=row["reason"],
        summary=row["summary"], created_at=row["created_at"], staff=row["staff"],
        recent=recent or [], console={str(k): str(v) for k, v in (row["console"] or {}).items()},
    )


class HandoffService:
    """Starting handoffs, relaying messages, and the staff actions."""

    def __init__(self, *, db: Database, settings: Settings, console: HandoffConsole,
                 metrics: Metrics, enqueue: Enqueue, hooks: EventHooks | None = None) -> None:
        self.db = db
        self.settings = settings
        self.console = console
        self.metrics = metrics
        self.enqueue = enqueue
        self.hooks = hooks
        self.hours = WorkingHours.parse(settings.handoff_hours, settings.handoff_timezone,
                                        settings.handoff_holidays)

    # --- user side
    async def start(self, conn: Conn, *, contact_id: UUID, conversation_id: UUID,
                    session_id: UUID, trigger: str, reason: str, intent: str | None,
                    history: list[dict[str, Any]], now: datetime | None = None) -> OutboundReply:
        """Open a handoff (or keep the open one) and say plainly what happens next."""
        now = now or datetime.now(UTC)
        cur = await conn.execute(
            "INSERT INTO app.handoffs (contact_id, conversation_id, session_id, trigger, reason,"
            " summary, intent, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (conversation_id) WHERE status IN ('waiting', 'claimed') DO NOTHING"
            " RETURNING id",
            (contact_id, conversation_id, session_id, trigger, reason,
             extractive_summary(history), intent, now))
        new = await cur.fetchone()
        created = new is not None
        await conn.execute("UPDATE app.sessions SET status = 'escalated' WHERE id = %s",
                           (session_id,))
        if created:
            self.metrics.handoffs.labels(trigger, intent or "none").inc()
            log.info("handoff_started", trigger=trigger, intent=intent)
            assert new is not None
            self._emit("handoff.created", new["id"], conversation_id, trigger=trigger,
                       intent=intent)
        return OutboundReply(text=await self.waiting_text(now))

    async def waiting_text(self, now: datetime) -> str:
        if self.hours.is_open(now):
            minutes = await self.expected_wait_minutes()
            return ("I'm bringing in a person from our team to help you. They'll reply right "
                    f"here, usually within about {minutes} minutes.")
        back = self.hours.next_open(now)
        when = back.strftime("%A at %H:%M") if back else "as soon as possible"
        return ("Our team isn't available right now; they're back "
                f"{when}. I've passed your conversation on, and a person will reply here then.")

    async def expected_wait_minutes(self) -> int:
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM claimed_at - created_at) AS s FROM app.handoffs"
                " WHERE claimed_at IS NOT NULL ORDER BY claimed_at DESC LIMIT 20")
            waits = [float(r["s"]) for r in await cur.fetchall()]
        if len(waits) < 3:
            return self.settings.handoff_expected_wait_min
        return max(1, round(statistics.median(waits) / 60))

    async def open_handoff(self, conversation_id: UUID) -> HandoffView | None:
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                _VIEW_SQL + " WHERE h.conversation_id = %s AND h.status IN ('waiting', 'claimed')",
                (conversation_id,))
            row = await cur.fetchone()
        return None if row is None else _view(row)

    async def announce_if_due(self, handoff_id: UUID, now: datetime | None = None) -> bool:
        """Post a waiting handoff to the console once, when staffed hours allow."""
        now = now or datetime.now(UTC)
        if not self.hours.is_open(now):
            return False
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                "UPDATE app.handoffs SET announced_at = %s WHERE id = %s"
                " AND announced_at IS NULL AND status = 'waiting' RETURNING id", (now, handoff_id))
            if await cur.fetchone() is None:
                return False
            view = await self._load(conn, handoff_id)
        try:
            refs = await self.console.announce(view)
        except Exception as exc:  # the console is down: the next sweep announces it again
            log.warning("handoff_announce_failed", error=type(exc).__name__)
            async with self.db.as_system() as conn:
                await conn.execute("UPDATE app.handoffs SET announced_at = NULL WHERE id = %s",
                                   (handoff_id,))
            return False
        if refs:
            async with self.db.as_system() as conn:
                await conn.execute("UPDATE app.handoffs SET console = console || %s::jsonb"
                                   " WHERE id = %s", (_json(refs), handoff_id))
        return True

    async def relay(self, handoff: HandoffView, text: str) -> None:
        """A user message during a handoff: mirrored to the console, never answered."""
        try:
            await self.console.mirror(handoff, handoff.display_name, text)
        except Exception as exc:  # the message is stored; the console is best effort
            log.warning("handoff_mirror_failed", error=type(exc).__name__)

    # --- staff side
    async def _load(self, conn: Conn, handoff_id: UUID) -> HandoffView:
        cur = await conn.execute(_VIEW_SQL + " WHERE h.id = %s", (handoff_id,))
        row = await cur.fetchone()
        if row is None:
            raise LookupError("no such handoff")
        cur = await conn.execute(
            "SELECT direction, text, author FROM app.messages WHERE conversation_id = %s"
            " ORDER BY id DESC LIMIT 6", (row["conversation_id"],))
        recent = transcript(list(reversed(list(await cur.fetchall()))))
        return _view(row, recent)

    async def view(self, handoff_id: UUID) -> HandoffView:
        async with self.db.as_system() as conn:
            return await self._load(conn, handoff_id)

    async def find_by_console(self, key: str, value: str) -> HandoffView | None:
        """The handoff a console reference (e.g. a Slack message ts) belongs to."""
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT id FROM app.handoffs WHERE console ->> %s = %s"
                " ORDER BY created_at DESC LIMIT 1", (key, value))
            row = await cur.fetchone()
            return None if row is None else await self._load(conn, row["id"])

    async def list_open(self) -> list[HandoffView]:
        async with self.db.as_system() as conn:
            cur = await conn.execute(_VIEW_SQL + " WHERE h.status IN ('waiting', 'claimed')"
                                                 " ORDER BY h.created_at")
            return [_view(r) for r in await cur.fetchall()]

    async def claim(self, handoff_id: UUID, staff: str,
                    now: datetime | None = None) -> StaffResult:
        now = now or datetime.now(UTC)
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                "UPDATE app.handoffs SET status = 'claimed', staff = %s, claimed_at = %s"
                " WHERE id = %s AND status = 'waiting' RETURNING created_at",
                (staff, now, handoff_id))
            row = await cur.fetchone()
            view = await self._load(conn, handoff_id)
            if row is None:
                return StaffResult(False, f"Already {view.status}"
                                   + (f" by {view.staff}" if view.staff else ""), view)
            await audit(conn, contact_id=None, actor=f"staff:{staff}", action="handoff:claim",
                        detail={"handoff": str(handoff_id)})
        waited = (now - row["created_at"]).total_seconds()
        self.metrics.handoff_claim_seconds.observe(waited)
        self._emit("handoff.claimed", handoff_id, view.conversation_id, staff=staff,
                   waited_s=round(waited))
        await self.console.notice(view, f"Claimed by {staff}.")
        return StaffResult(True, f"Claimed by {staff}.", view)

    async def reply(self, handoff_id: UUID, staff: str, text: str, *,
                    source: str | None = None, now: datetime | None = None) -> StaffResult:
        """A staff message: an internal note (prefix), or relayed to the user's channel.

        `source` identifies the console message (e.g. Slack channel and ts); a console
        retrying the same message stores it once. Replying claims a waiting handoff.
        """
        text = text.strip()
        now = now or datetime.now(UTC)
        if not text:
            return StaffResult(False, "Nothing to send.")
        if text.startswith(self.settings.handoff_note_prefix):
            return StaffResult(True, "Internal note, not sent to the customer.")
        async with self.db.as_system() as conn:
            # one staff reply at a time per handoff, so a retried console message is seen
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (str(handoff_id),))
            view = await self._load(conn, handoff_id)
            if view.status not in ("waiting", "claimed"):
                closed = "back with the bot" if view.status == "returned" else view.status
                return StaffResult(False, f"This handoff is {closed}; the reply was not sent "
                                          "to the customer.", view)
            if source is not None:
                cur = await conn.execute(
                    "SELECT 1 FROM app.messages WHERE conversation_id = %s AND direction = 'out'"
                    " AND raw ->> 'console_source' = %s", (view.conversation_id, source))
                if await cur.fetchone() is not None:
                    return StaffResult(True, "Already sent to the customer.", view)
            claimed_after: float | None = None
            if view.status == "waiting":
                await conn.execute("UPDATE app.handoffs SET status = 'claimed', staff = %s,"
                                   " claimed_at = %s WHERE id = %s", (staff, now, handoff_id))
                claimed_after = (now - view.created_at).total_seconds()
            reply = OutboundReply(text=text, from_human=True)
            await conn.execute(
                "INSERT INTO app.messages (contact_id, conversation_id, session_id, direction,"
                " channel, text, rich, status, author, raw)"
                " SELECT h.contact_id, h.conversation_id, h.session_id, 'out', cv.channel, %s,"
                " %s::jsonb, 'pending', %s, %s::jsonb FROM app.handoffs h"
                " JOIN app.conversations cv ON cv.id = h.conversation_id WHERE h.id = %s",
                (text, reply.model_dump_json(), staff,
                 _json({"console_source": source}) if source else None, handoff_id))
            await audit(conn, contact_id=None, actor=f"staff:{staff}", action="handoff:reply",
                        detail={"handoff": str(handoff_id)})
            if claimed_after is not None:
                view = await self._load(conn, handoff_id)
        if claimed_after is not None:
            self._emit("handoff.claimed", handoff_id, view.conversation_id, staff=staff)
        await self.enqueue(view.conversation_id, view.contact_id)
        if claimed_after is not None:
            self.metrics.handoff_claim_seconds.observe(claimed_after)
            await self.console.notice(view, f"Claimed by {staff}.")
        return StaffResult(True, "Sent to the customer.", view)

    async def finish(self, handoff_id: UUID, staff: str, *, back_to_bot: bool,
                     now: datetime | None = None) -> StaffResult:
        """Resolve (closes the session) or give the conversation back to the bot."""
        now = now or datetime.now(UTC)
        status = "returned" if back_to_bot else "resolved"
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                "UPDATE app.handoffs SET status = %s, resolved_at = %s, staff = coalesce(staff, %s)"
                " WHERE id = %s AND status IN ('waiting', 'claimed')"
                " RETURNING created_at, session_id, conversation_id, contact_id",
                (status, now, staff, handoff_id))
            row = await cur.fetchone()
            if row is None:
                view = await self._load(conn, handoff_id)
                return StaffResult(False, f"Already {view.status}.", view)
            if back_to_bot:
                await conn.execute("UPDATE app.sessions SET status = 'active' WHERE id = %s"
                                   " AND status = 'escalated'", (row["session_id"],))
                notice = OutboundReply(text=(
                    "You're back with the automated assistant. Ask me anything, or say "
                    "\"talk to a person\" if you need the team again."))
                await conn.execute(
                    "INSERT INTO app.messages (contact_id, conversation_id, session_id,"
                    " direction, channel, text, rich, status)"
                    " SELECT %s, %s, %s, 'out', channel, %s, %s::jsonb, 'pending'"
                    " FROM app.conversations WHERE id = %s",
                    (row["contact_id"], row["conversation_id"], row["session_id"], notice.text,
                     notice.model_dump_json(), row["conversation_id"]))
            else:
                await conn.execute("UPDATE app.sessions SET status = 'closed', closed_at = %s,"
                                   " close_reason = 'resolved' WHERE id = %s", (now,
                                                                               row["session_id"]))
            await audit(conn, contact_id=None, actor=f"staff:{staff}", action=f"handoff:{status}",
                        detail={"handoff": str(handoff_id)})
            view = await self._load(conn, handoff_id)
        took = (now - row["created_at"]).total_seconds()
        self.metrics.handoff_resolve_seconds.observe(took)
        self._emit("handoff.resolved", handoff_id, row["conversation_id"], staff=staff,
                   outcome=status, took_s=round(took))
        if back_to_bot:
            await self.enqueue(row["conversation_id"], row["contact_id"])
        text = ("Back to the bot" if back_to_bot else "Resolved") + f" by {staff}."
        await self.console.notice(view, text)
        return StaffResult(True, text, view)

    async def returned_by_user(self, handoff_id: UUID) -> None:
        """The customer asked for the bot back (the handler already closed the handoff)."""
        view = await self.view(handoff_id)
        if view.status != "returned":
            return
        async with self.db.as_system() as conn:
            cur = await conn.execute("SELECT extract(epoch FROM resolved_at - created_at) AS s"
                                     " FROM app.handoffs WHERE id = %s", (handoff_id,))
            row = await cur.fetchone()
        if row is not None and row["s"] is not None:
            self.metrics.handoff_resolve_seconds.observe(float(row["s"]))
        await self.console.notice(view, "The customer went back to the bot.")

    async def stats(self, since: datetime) -> HandoffStats:
        """Numbers for the admin view: handoffs by trigger and intent, median times."""
        async with self.db.as_system() as conn:
            return await handoff_stats(conn, since)

    def _emit(self, event: EventType, handoff_id: UUID, conversation_id: UUID,
              **data: Any) -> None:
        if self.hooks is not None:
            self.hooks.emit(event, handoff_id=str(handoff_id),
                            conversation_id=str(conversation_id), **data)

    # --- waiting: reminders, hours, the user's wait
    async def sweep(self, now: datetime | None = None) -> None:
        """Announce queued handoffs when hours begin, remind staff, tell long-waiting users."""
        now = now or datetime.now(UTC)
        remind = timedelta(minutes=self.settings.handoff_remind_after_min)
        tell_user = timedelta(minutes=self.settings.handoff_notify_user_after_min)
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT id, created_at, announced_at, reminded_at, user_notified_at, contact_id,"
                " conversation_id, session_id FROM app.handoffs WHERE status = 'waiting'")
            waiting = list(await cur.fetchall())
        self.metrics.handoffs_waiting.set(len(waiting))
        for row in waiting:
            if row["announced_at"] is None:
                await self.announce_if_due(row["id"], now)
                continue
            since = now - row["announced_at"]
            if row["reminded_at"] is None and since >= remind:
                view = await self.view(row["id"])
                mention = self.settings.handoff_mention
                await self.console.notice(view, f"{mention} Still waiting for a person: "
                                          f"{int(since.total_seconds() // 60)} min.".strip())
                async with self.db.as_system() as conn:
                    await conn.execute("UPDATE app.handoffs SET reminded_at = %s WHERE id = %s",
                                       (now, row["id"]))
            if row["user_notified_at"] is None and since >= tell_user:
                notice = OutboundReply(text=(
                    "Sorry for the wait — everyone on the team is busy right now. Leave a message "
                    "here with any details, and a person will get back to you as soon as they "
                    "can."))
                async with self.db.as_system() as conn:
                    await conn.execute(
                        "UPDATE app.handoffs SET user_notified_at = %s WHERE id = %s",
                        (now, row["id"]))
                    await conn.execute(
                        "INSERT INTO app.messages (contact_id, conversation_id, session_id,"
                        " direction, channel, text, rich, status)"
                        " SELECT %s, %s, %s, 'out', channel, %s, %s::jsonb, 'pending'"
                        " FROM app.conversations WHERE id = %s",
                        (row["contact_id"], row["conversation_id"], row["session_id"],
                         notice.text, notice.model_dump_json(), row["conversation_id"]))
                await self.enqueue(row["conversation_id"], row["contact_id"])
                await self.console.notice(await self.view(row["id"]), (
                    "The customer was told everyone is busy and invited to leave a message."))


def _json(value: dict[str, str]) -> str:
    import json

    return json.dumps(value)
