"""Policy triggers: when the bot hands a conversation to a person on its own."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bot.db.classifications import count_in_session
from bot.db.pool import Conn
from bot.settings import Settings

#: the classification of a message the injection detector refused (its turn stage)
INJECTION_REFUSED = "injection_refused"



def may_start_handoff(*, unhelpful: bool, intent: str) -> bool:
    """Whether `policy_handoff_due` can ask for a person after this turn: a helpful turn
    resets the unhelpful streak, and only a refused message counts as a safety flag."""
    return unhelpful or intent == INJECTION_REFUSED


async def policy_handoff_due(conn: Conn, settings: Settings, *, session_id: UUID,
                             intent: str, session_row: dict[str, Any] | None,
                             ) -> tuple[str, str] | None:
    """(trigger, reason) when a policy asks for a person now, else None.

    `session_row` is the session's `unhelpful_streak` and `status` after this turn.
    Refused messages count across the session: someone refused again and again is
    either attacking (a person should look) or wrongly flagged (a person should help).
    """
    if session_row is None or session_row["status"] != "active":
        return None
    unhelpful = settings.handoff_after_unhelpful_turns
    if unhelpful > 0 and session_row["unhelpful_streak"] >= unhelpful:
        return ("policy_unhelpful",
                f"{session_row['unhelpful_streak']} turns in a row the bot could not help")
    flags = settings.handoff_after_safety_flags
    if flags > 0 and intent == INJECTION_REFUSED:
        # This turn's message joins the session when its reply is saved: count it apart.
        refused = await count_in_session(conn, session_id, INJECTION_REFUSED) + 1
        if refused >= flags:
            return ("policy_safety", f"{refused} messages in this conversation were refused "
                                     "by the safety checks")
    return None
