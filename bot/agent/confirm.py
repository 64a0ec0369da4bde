"""Tools a route lists under `confirm`: the person says yes before they run.

When the model calls such a tool, the loop does not run it: the turn ends with the
model's words, a question and Yes/No quick replies, and the call waits in
`app.user_context` under a key the memory tools cannot write (their keys have no
colon) for `PENDING_TTL_MIN` minutes, bound to the session. The buttons' payloads
(`confirm_tool:<intent>:yes|no`) belong to the route's intent (the definition adds
the prefix to the intent's payloads), so the tap comes back to the same route. Yes
runs exactly the stored call, keyed to the confirming message, and the model words
the answer; No, or a call that expired, runs nothing and costs no LLM call.
"""

from __future__ import annotations

import json
from uuid import UUID

from bot.agent.messages import ToolCall
from bot.db.pool import Conn
from bot.definition import CONFIRM_PAYLOAD_PREFIX, confirm_payload_prefix
from bot.intents.yesno import is_affirmative, is_negative
from bot.models import Option, OutboundReply, QuickReplies

PENDING_KEY = "agent:pending_call"
PAYLOAD_PREFIX = CONFIRM_PAYLOAD_PREFIX
PENDING_TTL_MIN = 30
QUESTION = "Shall I go ahead?"
DECLINED_TEXT = "OK, I haven't changed anything. What else can I do for you?"
EXPIRED_TEXT = ("That request is no longer open, so I haven't changed anything. "
                "Tell me again what you'd like me to do.")


payload_prefix = confirm_payload_prefix


def answer_of(payload: str | None) -> bool | None:
    """True for a tapped Yes, False for No, None when the turn is no confirmation."""
    if not payload or not payload.startswith(PAYLOAD_PREFIX):
        return None
    return payload.rsplit(":", 1)[-1] == "yes"


def typed_answer(text: str) -> bool | None:
    """True for a typed plain yes, False for a plain no, None for anything else."""
    if is_affirmative(text):
        return True
    return False if is_negative(text) else None


def confirmation_reply(text: str, intent: str) -> OutboundReply:
    """The model's words so far, the question, and the two buttons."""
    prefix = payload_prefix(intent)
    return OutboundReply(
        text=f"{text}\n\n{QUESTION}" if text else QUESTION,
        parts=[QuickReplies(options=[Option(title="Yes", payload=prefix + "yes"),
                                     Option(title="No", payload=prefix + "no")])])


async def save_pending(conn: Conn, contact_id: UUID, session_id: UUID, call: ToolCall) -> None:
    """Keep the call until the person answers (a newer question replaces an older one)."""
    value = {"session_id": str(session_id), "tool": call.name,
             "arguments": call.arguments or {}, "call_id": call.id}
    await conn.execute(
        "INSERT INTO app.user_context (contact_id, key, value, kind, expires_at)"
        " VALUES (%s, %s, %s::jsonb, 'state', now() + make_interval(mins => %s))"
        " ON CONFLICT (contact_id, key) DO UPDATE SET value = excluded.value,"
        " kind = excluded.kind, expires_at = excluded.expires_at, updated_at = now()",
        (contact_id, PENDING_KEY, json.dumps(value), PENDING_TTL_MIN))


async def take_pending(conn: Conn, contact_id: UUID, session_id: UUID,
                       message_id: int) -> ToolCall | None:
    """The waiting call of this session, if still open, now answered by `message_id`.

    A re-run of the same confirming turn (after a crash) finds it again, and the
    executor's idempotency key (that message + the call) replays instead of acting twice.
    """
    cur = await conn.execute(
        "UPDATE app.user_context SET updated_at = now(),"
        " value = jsonb_set(value, '{answered_by}', to_jsonb(%s::bigint))"
        " WHERE contact_id = %s AND key = %s AND expires_at > now()"
        " AND value->>'session_id' = %s"
        " AND coalesce((value->>'answered_by')::bigint, %s) = %s RETURNING value",
        (message_id, contact_id, PENDING_KEY, str(session_id), message_id, message_id))
    row = await cur.fetchone()
    if row is None:
        return None
    value = row["value"]
    return ToolCall(id=str(value.get("call_id") or "confirmed"), name=str(value["tool"]),
                    arguments=dict(value.get("arguments") or {}))
