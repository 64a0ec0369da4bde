"""Built-in tools: what the bot remembers about the user, and asking for a person.

Memory lives in app.user_context (RLS: a user's own rows only). Forgetting sets
the expiry to now, because the application role cannot delete; expired rows are
never shown and `app.purge_expired` removes them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel, Field

from bot.agent.tools import ToolContext, ToolError, ToolRegistry

ESCALATION_TOOL = "escalate_to_human"
MEMORY_TOOLS = ("remember", "update_memory", "forget")

Key = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$",
            description="Short snake_case name, e.g. preferred_language or home_city.")


class RememberInput(BaseModel):
    """Something the user shared that is worth remembering."""

    key: str = Key
    value: str = Field(min_length=1, max_length=500)
    kind: Literal["preference", "fact", "entity", "state"] = "fact"
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="Omit for things that stay true.")


class ForgetInput(BaseModel):
    """Which remembered item to forget."""

    key: str = Key


class EscalateInput(BaseModel):
    """Why the user should speak with a person."""

    reason: str = Field(min_length=3, max_length=500)


EscalationHook = Callable[[ToolContext, str], Awaitable[None]]


async def mark_session_escalated(ctx: ToolContext, reason: str) -> None:
    """Default handoff hook: the session waits for a person; the request is audited."""
    async with ctx.unit_of_work() as conn:
        await conn.execute("UPDATE app.sessions SET status = 'escalated' WHERE id = %s",
                           (ctx.session_id,))
        await conn.execute(
            "INSERT INTO app.audit_log (contact_id, actor, action, detail)"
            " VALUES (%s, 'agent', 'escalation_requested', %s::jsonb)",
            (ctx.contact_id, json.dumps({"reason": reason, "message_id": ctx.message_id})))


def register_memory_tools(registry: ToolRegistry) -> None:
    @registry.tool(side_effects=True, title="your saved details")
    async def remember(args: RememberInput, ctx: ToolContext) -> str:
        """Remember a fact or preference the user shared about themselves, for later turns."""
        async with ctx.unit_of_work() as conn:
            await conn.execute(
                "INSERT INTO app.user_context (contact_id, key, value, kind, expires_at)"
                " VALUES (%s, %s, %s::jsonb, %s, now() + make_interval(days => %s))"
                " ON CONFLICT (contact_id, key) DO UPDATE SET value = excluded.value,"
                " kind = excluded.kind, expires_at = excluded.expires_at, updated_at = now()",
                (ctx.contact_id, args.key, json.dumps(args.value), args.kind,
                 args.expires_in_days))
        return f"Remembered {args.key}."

    @registry.tool(side_effects=True, title="your saved details")
    async def update_memory(args: RememberInput, ctx: ToolContext) -> str:
        """Change something already remembered about the user (by its key)."""
        async with ctx.unit_of_work() as conn:
            cur = await conn.execute(
                "UPDATE app.user_context SET value = %s::jsonb, kind = %s,"
                " expires_at = now() + make_interval(days => %s), updated_at = now()"
                " WHERE contact_id = %s AND key = %s"
                " AND (expires_at IS NULL OR expires_at > now()) RETURNING key",
                (json.dumps(args.value), args.kind, args.expires_in_days, ctx.contact_id,
                 args.key))
            if await cur.fetchone() is None:
                raise ToolError(f"Nothing is remembered under {args.key}; use remember.")
        return f"Updated {args.key}."

    @registry.tool(side_effects=True, title="your saved details")
    async def forget(args: ForgetInput, ctx: ToolContext) -> str:
        """Forget something remembered about the user, when they ask for it."""
        async with ctx.unit_of_work() as conn:
            # deleted, not marked expired (the acting user's own row: auth.uid())
            cur = await conn.execute("SELECT app.forget_context(%s) AS found", (args.key,))
            row = await cur.fetchone()
            if row is None or not row["found"]:
                raise ToolError(f"Nothing is remembered under {args.key}.")
        return f"Forgot {args.key}."


def register_escalation_tool(registry: ToolRegistry,
                             hook: EscalationHook = mark_session_escalated) -> None:
    """`escalate_to_human`; the handoff feature replaces `hook` with the real handoff."""
    @registry.tool(side_effects=True, name=ESCALATION_TOOL, title="the handoff to a person")
    async def escalate_to_human(args: EscalateInput, ctx: ToolContext) -> str:
        """Ask for a person to take over when the user wants to speak with a human or you
        cannot help. Tell the user a person will reply here."""
        ctx.turn.escalation_reason = args.reason
        await hook(ctx, args.reason)
        return "A person has been asked to continue this conversation."


def default_registry() -> ToolRegistry:
    """A registry with the built-in tools; bots add their own tools to it."""
    registry = ToolRegistry()
    register_memory_tools(registry)
    register_escalation_tool(registry)
    return registry
